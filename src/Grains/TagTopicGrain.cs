namespace CountCachula.Grains;

/// <summary>
/// The topic of one tenant's tag: the producer of the tag's stream. Silos subscribe to that stream only while a
/// local connection is interested in exactly this tag, so an invalidation costs cross-silo traffic only where it is wanted.
/// </summary>
public sealed class TagTopicGrain : Grain, ITagTopicGrain
{
    private IAsyncStream<CacheEvent>? _stream;

    /// <inheritdoc />
    public Task Publish(CacheEvent cacheEvent)
    {
        _stream ??= this.GetStreamProvider(CacheTopics.StreamProvider)
            .GetStream<CacheEvent>(StreamId.Create(CacheTopics.TagNamespace, this.GetPrimaryKeyString()));
        return _stream.OnNextAsync(cacheEvent);
    }
}
