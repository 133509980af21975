using Orleans.Concurrency;

namespace CountCachula.Grains;

/// <summary>
/// The broadcast topic of one tenant: producer of its broadcast and notice streams, and the door through which silos
/// tell the hub that they read them. Stateless and reentrant for the same reasons as <see cref="TagTopicGrain"/>.
/// </summary>
[Reentrant]
internal sealed class BroadcastGrain : Grain, IBroadcastGrain
{
    private IAsyncStream<CacheEvent>? _broadcast;
    private IAsyncStream<CacheEvent>? _notices;

    /// <inheritdoc />
    public Task Publish(CacheEvent cacheEvent, bool notice)
    {
        var tenant = this.GetPrimaryKeyString();
        var provider = this.GetStreamProvider(CacheTopics.StreamProvider);
        var stream = notice
            ? _notices ??= provider.GetStream<CacheEvent>(CacheStreams.Notices(tenant))
            : _broadcast ??= provider.GetStream<CacheEvent>(CacheStreams.Broadcast(tenant));
        return stream.OnNextAsync(cacheEvent);
    }

    /// <inheritdoc />
    public Task<long> AddListener(ListenerRoute route, string listenerId) => Hub().SetListener(route, listenerId, listening: true);

    /// <inheritdoc />
    public Task RemoveListener(ListenerRoute route, string listenerId) => Hub().SetListener(route, listenerId, listening: false);

    private ICacheHubGrain Hub() => GrainFactory.GetGrain<ICacheHubGrain>(this.GetPrimaryKeyString());
}
