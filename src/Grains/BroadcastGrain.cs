namespace CountCachula.Grains;

/// <summary>The broadcast topic of one tenant: the producer of the tenant's broadcast stream, which carries every event.</summary>
public sealed class BroadcastGrain : Grain, IBroadcastGrain
{
    private IAsyncStream<CacheEvent>? _stream;

    /// <inheritdoc />
    public Task Publish(CacheEvent cacheEvent)
    {
        // One stream for all of a tenant's events keeps them in sequence order for every silo that reads it.
        _stream ??= this.GetStreamProvider(CacheTopics.StreamProvider)
            .GetStream<CacheEvent>(CacheStreams.Broadcast(this.GetPrimaryKeyString()));
        return _stream.OnNextAsync(cacheEvent);
    }
}
