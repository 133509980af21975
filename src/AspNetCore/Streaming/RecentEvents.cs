namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// A tenant's most recent events as this web server received them, in sequence order, and how far back they are
/// known to be complete: while the web server receives every event of the tenant (it listens to everything, and its
/// inbox missed nothing it did not repair in order), a browser that reconnects with an id inside that span is caught
/// up from here, without asking the hub, which may be on a silo that just died. Bounded by count and bytes; what falls
/// out moves the start of the span. Not thread-safe: its <see cref="TenantInbox"/> serializes access.
/// </summary>
internal sealed class RecentEvents
{
    /// <summary>The most events kept per tenant.</summary>
    public const int MaxEvents = 1024;

    /// <summary>The most bytes of events (estimated) kept per tenant; a bigger event is not kept and ends the span.</summary>
    public const int MaxBytes = 256 * 1024;

    private readonly Queue<(CacheEvent Event, int Bytes)> _events = new();
    private int _bytes;
    private long _completeAfter = long.MaxValue;
    private DateTime _completeSinceUtc = DateTime.MaxValue;
    private bool _armed;

    /// <summary>
    /// Every event after this sequence is held here (or was not recorded); <see cref="long.MaxValue"/> when this web
    /// server does not receive every event of the tenant.
    /// </summary>
    public long CompleteAfter => _completeAfter;

    /// <summary>Every event published after this time is held here; <see cref="DateTime.MaxValue"/> as for <see cref="CompleteAfter"/>.</summary>
    public DateTime CompleteSinceUtc => _completeSinceUtc;

    /// <summary>
    /// From now on, every event after <paramref name="sequence"/> (where the web server began to receive everything)
    /// is held. 0 means that point is not known: the span then starts at the next event added.
    /// </summary>
    public void BeginComplete(long sequence, DateTime sinceUtc)
    {
        if (_completeAfter != long.MaxValue || _armed)
        {
            return;
        }

        if (sequence == 0)
        {
            _armed = true;
            _completeSinceUtc = sinceUtc;
            return;
        }

        _completeAfter = sequence;
        _completeSinceUtc = sinceUtc;
    }

    /// <summary>The web server no longer receives every event (or missed some for good): nothing is vouched for.</summary>
    public void EndComplete()
    {
        _armed = false;
        _completeAfter = long.MaxValue;
        _completeSinceUtc = DateTime.MaxValue;
        _events.Clear();
        _bytes = 0;
    }

    /// <summary>Adds the next event in sequence order.</summary>
    public void Add(CacheEvent cacheEvent)
    {
        if (_armed)
        {
            // The first event since the span began: it is held, and what follows; what came before it is not known.
            _armed = false;
            _completeAfter = cacheEvent.Sequence;
            _completeSinceUtc = cacheEvent.PublishedAtUtc > _completeSinceUtc ? cacheEvent.PublishedAtUtc : _completeSinceUtc;
        }

        if (_completeAfter == long.MaxValue)
        {
            return;
        }

        var bytes = SizeOf(cacheEvent);
        if (bytes > MaxBytes)
        {
            Forget(cacheEvent);
            _events.Clear();
            _bytes = 0;
            return;
        }

        _events.Enqueue((cacheEvent, bytes));
        _bytes += bytes;
        while (_events.Count > MaxEvents || _bytes > MaxBytes)
        {
            var (oldest, size) = _events.Dequeue();
            _bytes -= size;
            Forget(oldest);
        }
    }

    /// <summary>
    /// The events after <paramref name="afterSequence"/>, or null when they are not all held here (that point is older
    /// than the span, or the web server does not receive everything).
    /// </summary>
    public IReadOnlyList<CacheEvent>? After(long afterSequence) =>
        afterSequence < _completeAfter ? null : [.. _events.Select(e => e.Event).Where(e => e.Sequence > afterSequence)];

    /// <summary>The events published after <paramref name="sinceUtc"/>, or null when they are not all held here.</summary>
    public IReadOnlyList<CacheEvent>? Since(DateTime sinceUtc) =>
        sinceUtc < _completeSinceUtc ? null : [.. _events.Select(e => e.Event).Where(e => e.PublishedAtUtc > sinceUtc)];

    private void Forget(CacheEvent cacheEvent)
    {
        _completeAfter = Math.Max(_completeAfter, cacheEvent.Sequence);
        _completeSinceUtc = cacheEvent.PublishedAtUtc > _completeSinceUtc ? cacheEvent.PublishedAtUtc : _completeSinceUtc;
    }

    /// <summary>An estimate of what an event holds: its strings as UTF-16 and a fixed overhead.</summary>
    private static int SizeOf(CacheEvent cacheEvent)
    {
        var bytes = 200 + (2 * ((cacheEvent.Data?.Length ?? 0) + (cacheEvent.EventName?.Length ?? 0)));
        foreach (var item in cacheEvent.Items)
        {
            bytes += 40 + (2 * item.Length);
        }

        foreach (var tag in cacheEvent.ScopeTags ?? [])
        {
            bytes += 40 + (2 * tag.Length);
        }

        return bytes;
    }
}
