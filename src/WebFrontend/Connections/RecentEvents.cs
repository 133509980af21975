namespace CountCachula.WebFrontend.Connections;

/// <summary>
/// The sequence numbers this silo has already dispatched for one tenant, over a bounded window. An event can reach a
/// silo by several streams (the broadcast stream and one per listened tag); only its first arrival is dispatched.
/// </summary>
public sealed class RecentEvents(int capacity = 16_384)
{
    private readonly Lock _lock = new();
    private readonly HashSet<long> _seen = [];
    private readonly Queue<long> _order = new();

    /// <summary>True the first time <paramref name="sequence"/> is offered, false on every later arrival.</summary>
    public bool TryMark(long sequence)
    {
        lock (_lock)
        {
            if (!_seen.Add(sequence))
            {
                return false;
            }

            _order.Enqueue(sequence);
            if (_order.Count > capacity)
            {
                _seen.Remove(_order.Dequeue());
            }

            return true;
        }
    }
}
