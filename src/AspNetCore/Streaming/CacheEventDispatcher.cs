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
        var connections = registry.Snapshot(tenant);
        if (connections.Length == 0)
        {
            return 0;
        }

        var index = registry.Index(tenant);
        var address = cacheEvent.AddressTags;
        var frames = new FrameCache(cacheEvent, cacheEvent.Hops is { } hops ? new HopTimeline(cacheEvent.PublishedAtUtc, hops, DateTime.UtcNow.Ticks, metrics) : null);
        var delivered = 0;

        // The connections made ready here reach their writer shards in chunks, and every shard starts after its first.
        using (WriterShard.CollectFanOut())
        {
            if (address is null || index.EveryoneWantsAll)
            {
                // Everyone gets the whole event: one frame per format, the same bytes for all.
                foreach (var connection in connections)
                {
                    delivered += connection.TryEnqueue(frames.Whole(connection.Format)) ? 1 : 0;
                }
            }
            else
            {
                foreach (var (connection, positions) in index.Match(address, connections))
                {
                    var frame = cacheEvent.Kind == CacheEventKind.Invalidate && positions.Count < address.Count
                        ? frames.Subset(connection.Format, positions)
                        : frames.Whole(connection.Format);
                    delivered += connection.TryEnqueue(frame) ? 1 : 0;
                }
            }
        }

        metrics.Delivered(delivered);
        activity.Record(cacheEvent);
        return delivered;
    }

    /// <summary>The frames of one event, made on first use.</summary>
    private sealed class FrameCache(CacheEvent cacheEvent, HopTimeline? timeline)
    {
        private SseFrame? _default;
        private SseFrame? _json;
        private Dictionary<(SseFormat, string), SseFrame>? _subsets;

        public SseFrame Whole(SseFormat format) => format == SseFormat.Json
            ? _json ??= Timed(SseFrame.From(cacheEvent, cacheEvent.Items, SseFormat.Json))
            : _default ??= Timed(SseFrame.From(cacheEvent, cacheEvent.Items, SseFormat.Default));

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

        private SseFrame Timed(SseFrame frame)
        {
            frame.Timeline = timeline;
            return frame;
        }
    }
}
