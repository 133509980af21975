namespace CountCachula.Grains;

/// <summary>
/// Who listens for what, in a topic grain's memory: keys (tags, or broadcast interests) to listener ids. Silo listeners
/// stay until they unlisten or membership declares their silo dead; other listeners (Orleans clients) hold a lease
/// that every registration renews, so one that vanished without unlistening is forgotten after <paramref name="lease"/>.
/// </summary>
internal sealed class ListenerTable(TimeSpan lease)
{
    private readonly Dictionary<string, HashSet<string>> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _keysPerListener = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTime> _leases = new(StringComparer.Ordinal);

    /// <summary>True when nobody listens for anything.</summary>
    public bool IsEmpty => _byKey.Count == 0;

    /// <summary>Adds each of <paramref name="listenerIds"/> to <paramref name="key"/> (with a fresh lease where one applies).</summary>
    public void Add(IEnumerable<string> listenerIds, string key)
    {
        foreach (var listenerId in listenerIds)
        {
            Add(listenerId, [key]);
        }
    }

    /// <summary>Adds <paramref name="listenerId"/> to each of <paramref name="keys"/>, and renews its lease.</summary>
    /// <returns>True when it was not yet listed for one of them.</returns>
    public bool Add(string listenerId, IEnumerable<string> keys)
    {
        var added = false;
        if (!listenerId.StartsWith(CacheListeners.SiloPrefix, StringComparison.Ordinal))
        {
            _leases[listenerId] = DateTime.UtcNow + lease;
        }

        foreach (var key in keys)
        {
            if (!_byKey.TryGetValue(key, out var listeners))
            {
                _byKey[key] = listeners = new HashSet<string>(StringComparer.Ordinal);
            }

            if (listeners.Add(listenerId))
            {
                _keysPerListener[listenerId] = _keysPerListener.GetValueOrDefault(listenerId) + 1;
                added = true;
            }
        }

        return added;
    }

    /// <summary>Removes <paramref name="listenerId"/> from each of <paramref name="keys"/>.</summary>
    /// <returns>True when it was listed for one of them.</returns>
    public bool Remove(string listenerId, IEnumerable<string> keys)
    {
        var removed = false;
        foreach (var key in keys)
        {
            if (_byKey.TryGetValue(key, out var listeners) && listeners.Remove(listenerId))
            {
                removed = true;
                if (listeners.Count == 0)
                {
                    _byKey.Remove(key);
                }

                if (--_keysPerListener[listenerId] == 0)
                {
                    _keysPerListener.Remove(listenerId);
                    _leases.Remove(listenerId);
                }
            }
        }

        return removed;
    }

    /// <summary>The listeners of <paramref name="key"/>, or null.</summary>
    public IReadOnlyCollection<string>? Of(string key) => _byKey.GetValueOrDefault(key);

    /// <summary>
    /// Forgets every listener that is gone: a silo that membership declares dead, a client whose lease ran out.
    /// </summary>
    /// <returns>How many listeners were forgotten.</returns>
    public int Prune(Func<string, bool> isDead)
    {
        if (_keysPerListener.Count == 0)
        {
            return 0;
        }

        var now = DateTime.UtcNow;
        List<string>? gone = null;
        foreach (var listenerId in _keysPerListener.Keys)
        {
            if (_leases.TryGetValue(listenerId, out var until) ? until < now : isDead(listenerId))
            {
                (gone ??= []).Add(listenerId);
            }
        }

        foreach (var listenerId in gone ?? [])
        {
            foreach (var (key, listeners) in _byKey.Where(pair => pair.Value.Contains(listenerId)).ToList())
            {
                listeners.Remove(listenerId);
                if (listeners.Count == 0)
                {
                    _byKey.Remove(key);
                }
            }

            _keysPerListener.Remove(listenerId);
            _leases.Remove(listenerId);
        }

        return gone?.Count ?? 0;
    }
}
