using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// One tenant's events on this web server, in order: what arrives on the inbox stream, what a repair or a recovery
/// reads from the history, dispatched once each and in sequence order, so the ids a browser sees only rise.
/// </summary>
/// <remarks>
/// <para>
/// Each event on the inbox names the event the hub routed here before it (<see cref="CacheEvent.PreviousRouted"/>).
/// When that predecessor never arrived, an event was lost on the way (a stream queue that died with its silo, a router
/// that failed): the event and everything after it are held while the history is read from the last one received,
/// then the missing ones are dispatched first. A hub that moved to a new activation (its epoch changed) cannot vouch
/// for its predecessors, so that is repaired the same way (<see cref="GapRepair"/>). Held events wait at most
/// <see cref="GapRepair.HoldLimit"/>: past it
/// they go out, and whatever the repair then finds is sent without an id (a late event: the browser's
/// <c>Last-Event-ID</c> must never go back), to the streams that were already open when it was published.
/// </para>
/// <para>
/// A stream that opens is registered here, under the same lock that orders the events, so it neither misses nor
/// doubles an event at its start, and never receives one that this web server knew of before it opened (unless it
/// asked for a replay): the point it starts after is what was known then, whenever that goes out.
/// </para>
/// <para>
/// The lock only decides: what is to go out is queued under it, in order, and handed to the connections after it is
/// released, by one thread at a time (<see cref="OrderedDispatch"/>). So a shard that is full, or an output-cache store that is
/// slow to evict, holds back only this tenant's later events, never a stream that opens or an event that arrives.
/// </para>
/// </remarks>
internal sealed partial class TenantInbox
{
    private readonly string _tenant;
    private readonly ListenerServices _services;
    private readonly Lock _lock = new();
    private readonly GapRepair _repair;
    private readonly RecentSequences _dispatched = new(16_384);
    private readonly RecentEvents _recent = new();
    private readonly OrderedDispatch _outgoing;
    private SortedList<long, CacheEvent>? _held;
    private long _epoch;
    private long _received;
    private long _known;
    private bool _everything;
    private DateTime _coveredFromUtc = DateTime.UtcNow;

    public TenantInbox(string tenant, ListenerServices services)
    {
        _tenant = tenant;
        _services = services;
        _outgoing = new OrderedDispatch(tenant, services, _lock);
        _repair = new GapRepair(tenant, services, _lock, () => _received, () => RecoverySinceUtc, HoldExpired, Repaired, _outgoing.Drain);
    }

    /// <summary>
    /// How far back a recovery may ask the history by time: the recovery window, but never before this web server
    /// confirmed that the tenant's history existed (a young hub's history cannot vouch for earlier).
    /// </summary>
    public DateTime RecoverySinceUtc
    {
        get
        {
            var since = DateTime.UtcNow - _services.Options.RecoveryWindow;
            lock (_lock)
            {
                return since > _coveredFromUtc ? since : _coveredFromUtc;
            }
        }
    }

    /// <summary>The tenant's hub (so its history) was confirmed to exist at <paramref name="atUtc"/>.</summary>
    public void HubConfirmed(DateTime atUtc)
    {
        lock (_lock)
        {
            _coveredFromUtc = atUtc;
        }
    }

    /// <summary>Takes the next event from the inbox stream.</summary>
    public void Offer(CacheEvent cacheEvent)
    {
        lock (_lock)
        {
            _known = Math.Max(_known, cacheEvent.Sequence);
            if (_held is not null)
            {
                _held.TryAdd(cacheEvent.Sequence, cacheEvent);
                return;
            }

            if (_dispatched.Contains(cacheEvent.Sequence))
            {
                // The same event from a second router (the broadcast grain and a tag's shard), or routed again.
                return;
            }

            // Before the first event and before registration said where it took effect, there is nothing to compare with.
            var moved = _epoch != 0 && cacheEvent.HubEpoch != _epoch;
            _epoch = cacheEvent.HubEpoch;
            if (moved || (_received != 0 && cacheEvent.PreviousRouted > _received))
            {
                if (!moved)
                {
                    _services.Metrics.GapDetected();
                    LogGap(_services.Logger, _tenant, cacheEvent.PreviousRouted, _received, cacheEvent.Sequence);
                }

                _held = new SortedList<long, CacheEvent> { [cacheEvent.Sequence] = cacheEvent };
                _repair.Start();
                return;
            }

            Accept(cacheEvent, fromHistory: false);
        }

        _outgoing.Drain();
    }

    /// <summary>
    /// Registration with the broadcast grain took effect after <paramref name="sequence"/>: every later event reaches
    /// this web server. When <paramref name="everything"/>, from now on that is every event of the tenant.
    /// </summary>
    public void Registered(long sequence, bool everything)
    {
        lock (_lock)
        {
            _known = Math.Max(_known, sequence);
            if (_received == 0 && _held is null)
            {
                // Nothing arrived yet: the first event's predecessor is checked against this.
                _received = sequence;
            }

            if (everything)
            {
                _everything = true;
                CompleteFromNow(Math.Max(sequence, _received));
            }
        }
    }

    /// <summary>This web server no longer receives every event of the tenant.</summary>
    public void NotEverything()
    {
        lock (_lock)
        {
            _everything = false;
            _recent.EndComplete();
        }
    }

    /// <summary>
    /// Adds <paramref name="connection"/> to <paramref name="registry"/> at a point in this tenant's order: it receives
    /// every event dispatched from now on that this web server did not already know of, or (with a replay) every
    /// event after <paramref name="afterSequence"/> / <paramref name="sinceUtc"/> when this web server holds them all.
    /// </summary>
    /// <returns>The replay, read from here; null when there was no replay or it needs the history.</returns>
    public LocalReplay? Open(SseConnection connection, ConnectionRegistry registry, long? afterSequence, DateTime? sinceUtc)
    {
        lock (_lock)
        {
            LocalReplay? replay = null;
            if (afterSequence is { } after)
            {
                // An id from ahead of this server (an event still on its way here) is served too: what follows comes live.
                if (after <= _known && _recent.After(after) is { } events)
                {
                    replay = new LocalReplay(events, Math.Max(after, _received));
                }
            }
            else if (sinceUtc is { } since && _recent.Since(since) is { } events)
            {
                replay = new LocalReplay(events, _received);
            }

            // A new stream gets nothing from before it opened (not the events held behind a gap, nor a recovered one);
            // a replayed one nothing the replay covered; one replayed by the hub is told its point once the hub answers.
            var resumes = afterSequence is not null || sinceUtc is not null;
            connection.StartAfter(replay?.Through ?? (resumes ? 0 : _known), resumes);
            registry.Add(connection);
            return replay;
        }
    }

    /// <summary>
    /// Dispatches what the history holds that this web server has not dispatched (after a silo died, the inbox was
    /// re-established, registrations were lost): newer events in order, older ones as late events.
    /// </summary>
    public void Recovered(CacheReplay replay)
    {
        lock (_lock)
        {
            Apply(replay);
            if (_everything && !_repair.Running)
            {
                CompleteFromNow(_received);
            }
        }

        _outgoing.Drain();
    }

    /// <summary>The history is slow: what waited goes out now, the rest follows late; until then the recent events miss what the gap holds, so they serve no replay.</summary>
    private void HoldExpired()
    {
        _recent.EndComplete();
        ReleaseHeld();
    }

    /// <summary>The history answered: what was missing, then what waited, in order.</summary>
    private void Repaired(CacheReplay replay)
    {
        Apply(replay);
        ReleaseHeld();
        if (_everything)
        {
            // Whatever the gap cost the recent events, everything from here on is received again in order.
            CompleteFromNow(_received);
        }
    }

    /// <summary>Dispatches the replay's events this web server has not dispatched, in order; a history that cannot say resets.</summary>
    private void Apply(CacheReplay replay)
    {
        if (!replay.Complete)
        {
            Reset(replay.Through);
            return;
        }

        foreach (var cacheEvent in replay.Events)
        {
            if (!_dispatched.Contains(cacheEvent.Sequence))
            {
                Accept(cacheEvent, fromHistory: true);
            }
        }
    }

    /// <summary>From now on every event after <paramref name="sequence"/> is held in the recent events (see <see cref="RecentEvents"/>).</summary>
    private void CompleteFromNow(long sequence) =>
        // A second of slack for replays by time: the hub's clock stamps events, this web server's clock reads now.
        _recent.BeginComplete(sequence, DateTime.UtcNow + TimeSpan.FromSeconds(1));

    /// <summary>Dispatches what waited behind a gap, in order.</summary>
    private void ReleaseHeld()
    {
        if (_held is not { } held)
        {
            return;
        }

        _held = null;
        foreach (var cacheEvent in held.Values)
        {
            if (!_dispatched.Contains(cacheEvent.Sequence))
            {
                Accept(cacheEvent, fromHistory: false);
            }
        }
    }

    /// <summary>Dispatches an event not dispatched yet: in order when it is newer than the last, else as a late event.</summary>
    private void Accept(CacheEvent cacheEvent, bool fromHistory)
    {
        if (cacheEvent.Sequence <= _dispatched.ForgottenThrough)
        {
            // Too old to tell whether it was dispatched long ago; a browser that missed it was told to reset then.
            return;
        }

        _dispatched.Add(cacheEvent.Sequence);
        _known = Math.Max(_known, cacheEvent.Sequence);
        if (cacheEvent.Sequence > _received)
        {
            _received = cacheEvent.Sequence;
            _recent.Add(cacheEvent);
            _outgoing.Add(cacheEvent, fromHistory, late: false);
            return;
        }

        // Older than what went out already: the span of recent events is no longer complete.
        _recent.EndComplete();
        _services.Metrics.LateEvent();
        _outgoing.Add(cacheEvent, fromHistory: true, late: true);
    }

    /// <summary>The history cannot say what happened: nothing may be silently lost, so every local page starts over.</summary>
    private void Reset(long through)
    {
        _services.Metrics.Replayed(complete: false);
        LogReset(_services.Logger, _tenant);
        _recent.EndComplete();
        _received = Math.Max(_received, through);
        _known = Math.Max(_known, through);

        // Through the writer shards like events, so that it reaches each page after every event dispatched before; to
        // the pages open now (one that opens later starts after it).
        var frames = new PerShardFrames(_services.Registry.WriterShards);
        foreach (var connection in _services.Registry.Snapshot(_tenant))
        {
            frames.Add(connection, s_reset);
            frames.Add(connection, SseFrame.Invalidation(["*"], connection.Format, through));
        }

        _outgoing.Add(frames);
        ReleaseHeld();
    }

    private static readonly SseFrame s_reset = SseFrame.Create(id: null, "reset", """{"reason":"history-unavailable"}""");

    /// <summary>A replay served from this web server's recent events: what was missed, and through which sequence.</summary>
    internal sealed record LocalReplay(IReadOnlyList<CacheEvent> Events, long Through);

    [LoggerMessage(EventId = 4160, Level = LogLevel.Information, Message = "Tenant {Tenant}: event {Sequence} follows {Previous}, which never arrived (last received {Received}); reading the history in between")]
    private static partial void LogGap(ILogger logger, string tenant, long previous, long received, long sequence);

    [LoggerMessage(EventId = 4161, Level = LogLevel.Warning, Message = "Tenant {Tenant}: the history cannot cover what this server may have missed; every local connection is told to reset")]
    private static partial void LogReset(ILogger logger, string tenant);
}
