namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// The sequences of the events dispatched most recently, to drop the second copy of an event (it can reach an inbox
/// from several topic grains, and again from the history during recovery). A set, not a watermark: a recovered event
/// may be older than the newest one dispatched. It grows with use up to <paramref name="capacity"/>, oldest out first.
/// Not thread-safe: its owner serializes access.
/// </summary>
internal sealed class RecentSequences(int capacity)
{
    private readonly HashSet<long> _set = [];
    private readonly Queue<long> _order = new();

    /// <summary>The newest sequence that was recorded and has since been forgotten (0: none): at or below it, nothing can be told.</summary>
    public long ForgottenThrough { get; private set; }

    /// <summary>Records <paramref name="sequence"/>; false when it was already recorded.</summary>
    public bool Add(long sequence)
    {
        if (!_set.Add(sequence))
        {
            return false;
        }

        _order.Enqueue(sequence);
        if (_order.Count > capacity)
        {
            var forgotten = _order.Dequeue();
            _set.Remove(forgotten);
            ForgottenThrough = Math.Max(ForgottenThrough, forgotten);
        }

        return true;
    }

    /// <summary>True when <paramref name="sequence"/> is recorded.</summary>
    public bool Contains(long sequence) => _set.Contains(sequence);
}
