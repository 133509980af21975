namespace CountCachula;

/// <summary>
/// The broadcast topic of one tenant (key: the tenant id). Every event of the tenant goes onto its stream, which
/// silos subscribe to while they hold connections that want everything (<c>*</c>) or match by pattern.
/// </summary>
public interface IBroadcastGrain : IGrainWithStringKey
{
    /// <summary>Hands <paramref name="cacheEvent"/> to the tenant's broadcast stream.</summary>
    Task Publish(CacheEvent cacheEvent);
}
