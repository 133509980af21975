using Microsoft.Extensions.Logging;

namespace CountCachula.Grains;

/// <summary>
/// The hub of one tenant. It validates what publishers send, gives each event the next number in the tenant's
/// sequence and routes it: to the topic grain of each invalidated tag and to the tenant's broadcast grain.
/// </summary>
/// <remarks>
/// Not reentrant on purpose: one event at a time keeps the tenant's sequence in publishing order on every stream.
/// </remarks>
public sealed partial class CacheHubGrain(ILogger<CacheHubGrain> logger) : Grain, ICacheHubGrain
{
    private long _sequence;

    /// <inheritdoc />
    public Task Invalidate(IReadOnlyList<string> tags)
    {
        CacheInput.ThrowIfInvalid(tags, "tags");
        var cacheEvent = NextEvent(CacheEventKind.Invalidate, CacheInput.Distinct(tags));
        LogPublishing(logger, cacheEvent.Tenant, cacheEvent.Sequence, cacheEvent.Kind, cacheEvent.Items.Count);

        var tenant = cacheEvent.Tenant;
        var deliveries = new Task[cacheEvent.Items.Count + 1];
        for (var i = 0; i < cacheEvent.Items.Count; i++)
        {
            deliveries[i] = GrainFactory.GetGrain<ITagTopicGrain>(CacheTopics.TagKey(tenant, cacheEvent.Items[i])).Publish(cacheEvent);
        }

        deliveries[^1] = GrainFactory.GetGrain<IBroadcastGrain>(tenant).Publish(cacheEvent);
        return Task.WhenAll(deliveries);
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
