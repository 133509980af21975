using Orleans.Concurrency;

namespace CountCachula.Grains;

/// <summary>
/// The topic of one tenant's tag: the producer of the tag's stream, and the door through which silos tell the hub
/// that they read it. It holds no state of its own (the hub keeps who listens where), so it is reentrant: a silo
/// registering never waits behind the hub's publishing, and the hub never deadlocks with it.
/// </summary>
[Reentrant]
internal sealed class TagTopicGrain : Grain, ITagTopicGrain
{
    private IAsyncStream<CacheEvent>? _stream;

    /// <inheritdoc />
    public Task Publish(CacheEvent cacheEvent)
    {
        _stream ??= this.GetStreamProvider(CacheTopics.StreamProvider)
            .GetStream<CacheEvent>(StreamId.Create(CacheTopics.TagNamespace, this.GetPrimaryKeyString()));
        return _stream.OnNextAsync(cacheEvent);
    }

    /// <inheritdoc />
    public Task<long> AddListener(string listenerId) => Hub().SetListener(ListenerRoute.ForTag(Tag()), listenerId, listening: true);

    /// <inheritdoc />
    public Task RemoveListener(string listenerId) => Hub().SetListener(ListenerRoute.ForTag(Tag()), listenerId, listening: false);

    private ICacheHubGrain Hub() => GrainFactory.GetGrain<ICacheHubGrain>(Key()[..Key().IndexOf('/')]);

    private string Tag() => Key()[(Key().IndexOf('/') + 1)..];

    private string Key() => this.GetPrimaryKeyString();
}
