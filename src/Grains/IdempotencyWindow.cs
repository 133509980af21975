namespace CountCachula.Grains;

/// <summary>
/// The idempotency keys a hub accepted recently, with the sequence each was given and a fingerprint of what it
/// published: bounded by age and by count, oldest forgotten first.
/// </summary>
internal sealed class IdempotencyWindow(TimeSpan window, int maxKeys)
{
    private readonly Dictionary<string, (long Sequence, ulong Fingerprint)> _sequences = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, DateTime AtUtc)> _order = new();

    /// <summary>How many keys are remembered.</summary>
    public int Count => _sequences.Count;

    /// <summary>
    /// The sequence <paramref name="key"/> was accepted with, if it still is within the window, and the fingerprint
    /// (<see cref="Fingerprint"/>) of the event it was accepted for.
    /// </summary>
    public bool TryGet(string key, DateTime nowUtc, out long sequence, out ulong fingerprint)
    {
        Expire(nowUtc);
        var found = _sequences.TryGetValue(key, out var entry);
        (sequence, fingerprint) = entry;
        return found;
    }

    /// <summary>Remembers that <paramref name="key"/> was accepted for <paramref name="cacheEvent"/>.</summary>
    public void Add(string key, CacheEvent cacheEvent) => Add(key, cacheEvent.Sequence, Fingerprint(cacheEvent), cacheEvent.PublishedAtUtc);

    /// <summary>
    /// What a publication carries, reduced to 64 bits that are the same on every silo and after a restart (the
    /// history rebuilds the window from stored events): kind, tags or routes, scope, event name and data.
    /// </summary>
    public static ulong Fingerprint(CacheEvent cacheEvent)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        void Add(string? text)
        {
            // Length first, so ["ab"] and ["a", "b"] never hash alike.
            var length = text?.Length ?? -1;
            hash.AppendData(BitConverter.GetBytes(length));
            if (text is not null)
            {
                hash.AppendData(System.Text.Encoding.UTF8.GetBytes(text));
            }
        }

        Add(cacheEvent.Kind.ToString());
        Add(cacheEvent.Items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var item in cacheEvent.Items)
        {
            Add(item);
        }

        Add(cacheEvent.ScopeTags?.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var scope in cacheEvent.ScopeTags ?? [])
        {
            Add(scope);
        }

        Add(cacheEvent.Public ? "public" : "granted");
        Add(cacheEvent.EventName);
        Add(cacheEvent.Data);
        return BitConverter.ToUInt64(hash.GetHashAndReset(), 0);
    }

    private void Add(string key, long sequence, ulong fingerprint, DateTime atUtc)
    {
        if (maxKeys == 0 || window <= TimeSpan.Zero || !_sequences.TryAdd(key, (sequence, fingerprint)))
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
