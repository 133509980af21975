namespace CountCachula.Grains;

/// <summary>The broadcast topic of one tenant: the producer of the tenant's broadcast stream.</summary>
public sealed class BroadcastGrain : Grain, IBroadcastGrain
{
    private IAsyncStream<CacheEvent>? _stream;

    /// <inheritdoc />
    public Task Publish(CacheEvent cacheEvent)
    {
        _stream ??= this.GetStreamProvider(CacheTopics.StreamProvider)
            .GetStream<CacheEvent>(CacheStreams.Broadcast(this.GetPrimaryKeyString()));
        return _stream.OnNextAsync(cacheEvent);
    }
}
