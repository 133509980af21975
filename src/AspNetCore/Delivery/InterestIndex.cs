using CountCachula.AspNetCore.Interests;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// Which of one tenant's local connections want which tags. It answers "who matches these tags" with one dictionary
/// lookup per tag for exact interests and one per tag prefix for patterns, never by scanning connections.
/// </summary>
internal sealed class InterestIndex
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, HashSet<SseConnection>> _exact = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<SseConnection>> _prefix = new(StringComparer.Ordinal);
    private readonly HashSet<SseConnection> _all = [];
    private int _longestPrefix;

    /// <summary>Whether every local connection of the tenant wants everything (the fast path: one frame for all).</summary>
    public bool EveryoneWantsAll
    {
        get
        {
            lock (_lock)
            {
                return _exact.Count == 0 && _prefix.Count == 0;
            }
        }
    }

    /// <summary>Records that <paramref name="connection"/> wants <paramref name="interest"/>.</summary>
    public void Add(SseConnection connection, Interest interest)
    {
        lock (_lock)
        {
            switch (interest.Kind)
            {
                case InterestKind.All:
                    _all.Add(connection);
                    break;
                case InterestKind.Prefix:
                    Bucket(_prefix, interest.Value).Add(connection);
                    _longestPrefix = Math.Max(_longestPrefix, interest.Value.Length);
                    break;
                default:
                    Bucket(_exact, interest.Value).Add(connection);
                    break;
            }
        }
    }

    /// <summary>Forgets that <paramref name="connection"/> wants <paramref name="interest"/>.</summary>
    public void Remove(SseConnection connection, Interest interest)
    {
        lock (_lock)
        {
            switch (interest.Kind)
            {
                case InterestKind.All:
                    _all.Remove(connection);
                    break;
                case InterestKind.Prefix:
                    Unbucket(_prefix, interest.Value, connection);
                    break;
                default:
                    Unbucket(_exact, interest.Value, connection);
                    break;
            }
        }
    }

    /// <summary>
    /// For each connection interested in any of <paramref name="tags"/>, the positions of the tags it matched, in
    /// order. A published <c>*</c> matches every connection.
    /// </summary>
    public Dictionary<SseConnection, List<int>> Match(IReadOnlyList<string> tags, IReadOnlyCollection<SseConnection> everyone)
    {
        var matches = new Dictionary<SseConnection, List<int>>();
        lock (_lock)
        {
            for (var i = 0; i < tags.Count; i++)
            {
                var tag = tags[i];
                if (tag == "*")
                {
                    AddAll(matches, everyone, i);
                    continue;
                }

                AddAll(matches, _all, i);
                if (_exact.TryGetValue(tag, out var exact))
                {
                    AddAll(matches, exact, i);
                }

                if (_prefix.Count > 0)
                {
                    var lookup = _prefix.GetAlternateLookup<ReadOnlySpan<char>>();
                    var longest = Math.Min(tag.Length, _longestPrefix);
                    for (var length = 0; length <= longest; length++)
                    {
                        if (lookup.TryGetValue(tag.AsSpan(0, length), out var byPrefix))
                        {
                            AddAll(matches, byPrefix, i);
                        }
                    }
                }
            }
        }

        return matches;
    }

    private static void AddAll(Dictionary<SseConnection, List<int>> matches, IEnumerable<SseConnection> connections, int index)
    {
        foreach (var connection in connections)
        {
            if (!matches.TryGetValue(connection, out var positions))
            {
                matches[connection] = positions = [];
            }

            if (positions.Count == 0 || positions[^1] != index)
            {
                positions.Add(index);
            }
        }
    }

    private static HashSet<SseConnection> Bucket(Dictionary<string, HashSet<SseConnection>> buckets, string key)
    {
        if (!buckets.TryGetValue(key, out var bucket))
        {
            buckets[key] = bucket = [];
        }

        return bucket;
    }

    private static void Unbucket(Dictionary<string, HashSet<SseConnection>> buckets, string key, SseConnection connection)
    {
        if (buckets.TryGetValue(key, out var bucket) && bucket.Remove(connection) && bucket.Count == 0)
        {
            buckets.Remove(key);
        }
    }
}
