using Microsoft.Extensions.Logging;

namespace CountCachula.Grains;

/// <summary>
/// The hub of one tenant. It validates what publishers send, gives each event the next number in the tenant's
/// sequence and routes it: to the tenant's broadcast grain, and to the topic grain of each invalidated tag that some
/// silo listens to. Tags nobody listens to by name (most of them: one per entity) cost no grain or stream at all.
/// </summary>
/// <remarks>
/// Not reentrant on purpose: one event at a time keeps the tenant's sequence in publishing order on every stream.
/// </remarks>
public sealed partial class CacheHubGrain(ILogger<CacheHubGrain> logger) : Grain, ICacheHubGrain
{
    private readonly HashSet<string> _listenedTopics = new(StringComparer.Ordinal);
    private long _sequence;

    /// <inheritdoc />
    public Task Invalidate(IReadOnlyList<string> tags)
    {
        CacheInput.ThrowIfInvalid(tags, "tags");
        var cacheEvent = NextEvent(CacheEventKind.Invalidate, CacheInput.Distinct(tags));
        LogPublishing(logger, cacheEvent.Tenant, cacheEvent.Sequence, cacheEvent.Kind, cacheEvent.Items.Count);

        var tenant = cacheEvent.Tenant;
        var broadcast = GrainFactory.GetGrain<IBroadcastGrain>(tenant).Publish(cacheEvent);
        if (_listenedTopics.Count == 0)
        {
            return broadcast;
        }

        var deliveries = new List<Task>(4) { broadcast };
        foreach (var tag in cacheEvent.Items)
        {
            if (_listenedTopics.Contains(tag))
            {
                deliveries.Add(GrainFactory.GetGrain<ITagTopicGrain>(CacheTopics.TagKey(tenant, tag)).Publish(cacheEvent));
            }
        }

        return Task.WhenAll(deliveries);
    }

    /// <inheritdoc />
    public Task SetTopicListened(string tag, bool listened)
    {
        if (listened)
        {
            _listenedTopics.Add(tag);
        }
        else
        {
            _listenedTopics.Remove(tag);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task PreloadHint(IReadOnlyList<string> routes)
    {
        CacheInput.ThrowIfInvalid(routes, "routes");
        var cacheEvent = NextEvent(CacheEventKind.PreloadHint, CacheInput.Distinct(routes));
        LogPublishing(logger, cacheEvent.Tenant, cacheEvent.Sequence, cacheEvent.Kind, cacheEvent.Items.Count);

        // Routes are not tags: a hint goes to everyone through the broadcast topic.
        return GrainFactory.GetGrain<IBroadcastGrain>(cacheEvent.Tenant).Publish(cacheEvent);
    }

    private CacheEvent NextEvent(CacheEventKind kind, string[] items) => new()
    {
        Tenant = this.GetPrimaryKeyString(),
        Sequence = ++_sequence,
        Kind = kind,
        Items = items,
        PublishedAtUtc = DateTime.UtcNow,
    };

    [LoggerMessage(Level = LogLevel.Debug, Message = "Tenant {Tenant} publishes event {Sequence} ({Kind}, {Count} items)")]
    private static partial void LogPublishing(ILogger logger, string tenant, long sequence, CacheEventKind kind, int count);
}
