namespace CountCachula;

/// <summary>
/// The broadcast topic of one tenant (key: the tenant id). Every event of the tenant goes onto its broadcast stream,
/// in sequence order; each silo's frontend subscribes to it while it holds a connection of the tenant.
/// </summary>
public interface IBroadcastGrain : IGrainWithStringKey
{
    /// <summary>Hands <paramref name="cacheEvent"/> to the tenant's broadcast stream.</summary>
    Task Publish(CacheEvent cacheEvent);
}
