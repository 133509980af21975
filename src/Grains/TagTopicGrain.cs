namespace CountCachula.Grains;

/// <summary>
/// The topic of one tenant's tag: the producer of the tag's stream and the keeper of its listeners. Silos listen only
/// while a local connection is interested in exactly this tag, so an invalidation crosses to a silo only where wanted.
/// </summary>
public sealed class TagTopicGrain : Grain, ITagTopicGrain
{
    private readonly HashSet<string> _listeners = new(StringComparer.Ordinal);
    private IAsyncStream<CacheEvent>? _stream;

    /// <inheritdoc />
    public Task Publish(CacheEvent cacheEvent)
    {
        _stream ??= this.GetStreamProvider(CacheTopics.StreamProvider)
            .GetStream<CacheEvent>(StreamId.Create(CacheTopics.TagNamespace, this.GetPrimaryKeyString()));
        return _stream.OnNextAsync(cacheEvent);
    }

    /// <inheritdoc />
    public Task AddListener(string listenerId) =>
        _listeners.Add(listenerId) && _listeners.Count == 1 ? Hub().SetTopicListened(Tag(), listened: true) : Task.CompletedTask;

    /// <inheritdoc />
    public Task RemoveListener(string listenerId) =>
        _listeners.Remove(listenerId) && _listeners.Count == 0 ? Hub().SetTopicListened(Tag(), listened: false) : Task.CompletedTask;

    private ICacheHubGrain Hub() => GrainFactory.GetGrain<ICacheHubGrain>(Key()[..Key().IndexOf('/')]);

    private string Tag() => Key()[(Key().IndexOf('/') + 1)..];

    private string Key() => this.GetPrimaryKeyString();
}
