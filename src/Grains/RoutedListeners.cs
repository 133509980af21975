namespace CountCachula.Grains;

/// <summary>
/// A hub activation's record of the last event it routed to each listener, and of the newest event whose routing
/// failed, handed to the routers with every event as <see cref="RouteLinks"/>. In memory: a new activation starts
/// empty, and its listeners tell the change by the event's hub epoch.
/// </summary>
internal sealed class RoutedListeners
{
    /// <summary>The most listeners remembered; past it the least recently routed to are forgotten.</summary>
    public const int Capacity = 4096;

    private readonly Dictionary<string, long> _last = new(StringComparer.Ordinal);
    private long _floor;
    private RouteLinks? _snapshot;

    /// <summary>The links to send with the next event (the same object until something changes).</summary>
    public RouteLinks Snapshot() => _snapshot ??= new RouteLinks { Floor = _floor, Last = new Dictionary<string, long>(_last, StringComparer.Ordinal) };

    /// <summary>Records that <paramref name="listeners"/> were sent event <paramref name="sequence"/>.</summary>
    public void Routed(IReadOnlyList<string> listeners, long sequence)
    {
        foreach (var listener in listeners)
        {
            if (_last.GetValueOrDefault(listener) < sequence)
            {
                _last[listener] = sequence;
                _snapshot = null;
            }
        }

        if (_last.Count > Capacity)
        {
            // Listeners come and go with web servers; the oldest entries are those of servers long gone. One that is
            // still there only loses its predecessor check for its next event.
            foreach (var listener in _last.OrderBy(p => p.Value).Take(_last.Count - Capacity).Select(p => p.Key).ToList())
            {
                _last.Remove(listener);
            }
        }
    }

    /// <summary>Records that routing <paramref name="sequence"/> failed somewhere: it counts as routed to everyone.</summary>
    public void Failed(long sequence)
    {
        if (_floor < sequence)
        {
            _floor = sequence;
            _snapshot = null;
        }
    }
}
