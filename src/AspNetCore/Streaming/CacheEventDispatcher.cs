using CountCachula.AspNetCore.CacheTags;
using CountCachula.AspNetCore.Connections;
using CountCachula.AspNetCore.Dashboard;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// The last hop, inside the silo: given each event once (by <see cref="TenantListener"/>), finds the local
/// connections it concerns, and queues on each the frame with just the tags that matched its interests (the specification's
/// <c>relevantTags</c>). Frames are encoded once per distinct content and format, and nothing waits on a connection.
/// </summary>
internal sealed class CacheEventDispatcher(
    ConnectionRegistry registry,
    CountCachulaMetrics metrics,
    RecentActivity activity,
    OutputCacheEviction outputCache,
    ListenerIdentity identity)
{
    /// <summary>Delivers <paramref name="cacheEvent"/> to this silo's connections; returns how many took it.</summary>
    public int Dispatch(CacheEvent cacheEvent)
    {
        // Per event, never per connection: with tracing off this is a null check and a listener check.
        using var span = DispatchTracing.Start(cacheEvent, identity.Id);
        var delivered = DispatchToConnections(cacheEvent);
        span?.SetTag(CacheTracing.ConnectionsTag, delivered);
        return delivered;
    }

    private int DispatchToConnections(CacheEvent cacheEvent)
    {
        outputCache.BeforeDispatch(cacheEvent);
        var tenant = cacheEvent.Tenant;
        metrics.EventReceived(cacheEvent.Kind);
        var snapshot = registry.Shards(tenant);
        if (snapshot.All.Length == 0)
        {
            return 0;
        }

        var index = registry.Index(tenant);
        var address = cacheEvent.AddressTags;
        var frames = new FrameCache(cacheEvent, cacheEvent.Hops is { } hops ? new HopTimeline(cacheEvent.PublishedAtUtc, hops, DateTime.UtcNow.Ticks, metrics) : null);
        int delivered;
        if (address is null || index.EveryoneWantsAll)
        {
            // Everyone gets the whole event: one frame per format, the same bytes for all, and each shard is handed the
            // event once for all its connections (this thread touches none of them).
            snapshot.DeliverToAll(frames);

            delivered = snapshot.All.Length;
        }
        else
        {
            var perShard = new PerShardFrames();
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

        metrics.Delivered(delivered);
        activity.Record(cacheEvent);
        return delivered;
    }

    /// <summary>
    /// The frames of one event, made on first use: the whole event's by the writer shards (possibly two at once; the
    /// first one made is kept), the subsets by the dispatching thread.
    /// </summary>
    private sealed class FrameCache(CacheEvent cacheEvent, HopTimeline? timeline) : IWholeFrames
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
                _subsets[key] = frame = Timed(SseFrame.From(cacheEvent, [.. positions.Select(i => cacheEvent.Items[i])], format));
            }

            return frame;
        }

        private SseFrame Make(ref SseFrame? slot, SseFormat format)
        {
            var frame = Timed(SseFrame.From(cacheEvent, cacheEvent.Items, format));
            return Interlocked.CompareExchange(ref slot, frame, null) ?? frame;
        }

        private SseFrame Timed(SseFrame frame)
        {
            frame.Timeline = timeline;
            return frame;
        }
    }
}
