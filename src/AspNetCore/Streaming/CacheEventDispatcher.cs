using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// The last hop, inside the silo: given each event once (by <see cref="TenantListener"/>), finds the local
/// connections it concerns, and queues on each the frame with just the tags that matched its interests (the specification's
/// <c>relevantTags</c>). Frames are encoded once per distinct content and format, and nothing waits on a connection.
/// Whatever else must learn of an event (output-cache eviction, metrics, the dashboard) is an
/// <see cref="ICacheEventObserver"/>.
/// </summary>
internal sealed class CacheEventDispatcher(
    ConnectionRegistry registry,
    CountCachulaMetrics metrics,
    IEnumerable<ICacheEventObserver> observers,
    ListenerIdentity identity)
{
    private readonly ICacheEventObserver[] _observers = [.. observers];

    /// <summary>
    /// What must happen before <paramref name="cacheEvent"/> is given to any connection (the observers'
    /// <see cref="ICacheEventObserver.BeforeDispatch"/>): <see cref="Dispatch"/> it once this completed.
    /// </summary>
    public ValueTask PrepareAsync(CacheEvent cacheEvent)
    {
        List<Task>? waiting = null;
        foreach (var observer in _observers)
        {
            var before = observer.BeforeDispatch(cacheEvent);
            if (!before.IsCompletedSuccessfully)
            {
                (waiting ??= []).Add(before.AsTask());
            }
        }

        return waiting is null ? ValueTask.CompletedTask : new ValueTask(Task.WhenAll(waiting));
    }

    /// <summary>
    /// Delivers <paramref name="cacheEvent"/>, prepared (see <see cref="PrepareAsync"/>), to this silo's connections;
    /// returns how many took it. Like every event, it
    /// skips the streams that opened after this server knew of it. One read <paramref name="fromHistory"/> also skips
    /// those that opened well after it was published; a <paramref name="late"/> one (older than events already
    /// dispatched) goes out without an id, so no browser's <c>Last-Event-ID</c> goes back.
    /// </summary>
    public int Dispatch(CacheEvent cacheEvent, bool fromHistory = false, bool late = false)
    {
        // Per event, never per connection: with tracing off this is a null check and a listener check.
        using var span = DispatchTracing.Start(cacheEvent, identity.Id);
        var delivered = DispatchToConnections(cacheEvent, fromHistory || late, late);
        span?.SetTag(CacheTracing.ConnectionsTag, delivered);
        return delivered;
    }

    private int DispatchToConnections(CacheEvent cacheEvent, bool fromHistory, bool late)
    {
        var tenant = cacheEvent.Tenant;
        var snapshot = registry.Shards(tenant);
        if (snapshot.All.Length == 0)
        {
            return 0;
        }

        var index = registry.Index(tenant);
        var address = cacheEvent.AddressTags;
        var frames = new FrameCache(cacheEvent, fromHistory, late, cacheEvent.Hops is { } hops && !fromHistory ? new HopTimeline(cacheEvent.PublishedAtUtc, hops, DateTime.UtcNow.Ticks, metrics) : null);
        int delivered;
        try
        {
            delivered = Deliver(cacheEvent, snapshot, index, address, frames);
        }
        finally
        {
            // The shards hold the frames until they have offered them; this thread is done with them.
            frames.Done();
        }

        foreach (var observer in _observers)
        {
            observer.AfterDispatch(cacheEvent, delivered);
        }

        return delivered;
    }

    private static int Deliver(CacheEvent cacheEvent, ConnectionSnapshot snapshot, InterestIndex index, IReadOnlyList<string>? address, FrameCache frames)
    {
        int delivered;
        if (cacheEvent.ForFullGrantsOnly && !AllGrantedAll(snapshot.All))
        {
            // Fail closed: nobody scoped this hint or custom event, so a credential limited to some tags never sees it.
            var perShard = new PerShardFrames(snapshot.Shards, frames);
            foreach (var connection in snapshot.All)
            {
                if (connection.GrantsAll)
                {
                    perShard.Add(connection, frames.Whole(connection.Format));
                }
            }

            perShard.Hand();
            delivered = perShard.Count;
        }
        else if (address is null || index.EveryoneWantsAll)
        {
            // Everyone gets the whole event: one frame per format, the same bytes for all, and each shard is handed the
            // event once for all its connections (this thread touches none of them).
            snapshot.DeliverToAll(frames);

            delivered = snapshot.All.Length;
        }
        else
        {
            var perShard = new PerShardFrames(snapshot.Shards, frames);
            foreach (var (connection, positions) in index.Match(address, snapshot.All))
            {
                var frame = cacheEvent.Kind == CacheEventKind.Invalidate && positions.Count < address.Count
                    ? frames.Subset(connection.Format, positions)
                    : frames.Whole(connection.Format);
                perShard.Add(connection, frame);
            }

            perShard.Hand();
            delivered = perShard.Count;
        }

        return delivered;
    }

    private static bool AllGrantedAll(SseConnection[] connections)
    {
        foreach (var connection in connections)
        {
            if (!connection.GrantsAll)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The frames of one event, made on first use: the whole event's by the writer shards (possibly two at once; the
    /// first one made is kept), the subsets by the dispatching thread. Big ones are pooled (see <see cref="SseFrame"/>),
    /// held here until every shard has offered them.
    /// </summary>
    private sealed class FrameCache(CacheEvent cacheEvent, bool fromHistory, bool late, HopTimeline? timeline) : FrameOwner, IWholeFrames
    {
        private SseFrame? _default;
        private SseFrame? _json;
        private Dictionary<(SseFormat, string), SseFrame>? _subsets;

        public SseFrame Whole(SseFormat format) => format == SseFormat.Json
            ? Volatile.Read(ref _json) ?? Make(ref _json, SseFormat.Json)
            : Volatile.Read(ref _default) ?? Make(ref _default, SseFormat.Default);

        public SseFrame Subset(SseFormat format, List<int> positions)
        {
            _subsets ??= [];
            var key = (format, string.Join(',', positions));
            if (!_subsets.TryGetValue(key, out var frame))
            {
                _subsets[key] = frame = Timed(SseFrame.From(cacheEvent, [.. positions.Select(i => cacheEvent.Items[i])], format, withId: !late, fromHistory, pooled: true));
            }

            return frame;
        }

        private SseFrame Make(ref SseFrame? slot, SseFormat format)
        {
            var frame = Timed(SseFrame.From(cacheEvent, cacheEvent.Items, format, withId: !late, fromHistory, pooled: true));
            if (Interlocked.CompareExchange(ref slot, frame, null) is { } first)
            {
                // Another shard made it at the same moment: this copy was never handed out.
                frame.Release();
                return first;
            }

            return frame;
        }

        protected override void ReleaseFrames()
        {
            Volatile.Read(ref _default)?.Release();
            Volatile.Read(ref _json)?.Release();
            if (_subsets is { } subsets)
            {
                foreach (var frame in subsets.Values)
                {
                    frame.Release();
                }
            }
        }

        private SseFrame Timed(SseFrame frame)
        {
            frame.Timeline = timeline;
            return frame;
        }
    }
}
