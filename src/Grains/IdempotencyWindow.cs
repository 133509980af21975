namespace CountCachula.Grains;

/// <summary>
/// The idempotency keys a hub accepted recently, with the sequence each was given: bounded by age and by count,
/// oldest forgotten first.
/// </summary>
internal sealed class IdempotencyWindow(TimeSpan window, int maxKeys)
{
    private readonly Dictionary<string, long> _sequences = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, DateTime AtUtc)> _order = new();

    /// <summary>How many keys are remembered.</summary>
    public int Count => _sequences.Count;

    /// <summary>The sequence <paramref name="key"/> was accepted with, if it still is within the window.</summary>
    public bool TryGet(string key, DateTime nowUtc, out long sequence)
    {
        Expire(nowUtc);
        return _sequences.TryGetValue(key, out sequence);
    }

    /// <summary>Remembers that <paramref name="key"/> was accepted as <paramref name="sequence"/> at <paramref name="atUtc"/>.</summary>
    public void Add(string key, long sequence, DateTime atUtc)
    {
        if (maxKeys == 0 || window <= TimeSpan.Zero || !_sequences.TryAdd(key, sequence))
        {
            return;
        }

        _order.Enqueue((key, atUtc));
        while (_sequences.Count > maxKeys)
        {
            _sequences.Remove(_order.Dequeue().Key);
        }
    }

    private void Expire(DateTime nowUtc)
    {
        while (_order.Count > 0 && nowUtc - _order.Peek().AtUtc > window)
        {
            _sequences.Remove(_order.Dequeue().Key);
        }
    }
}
