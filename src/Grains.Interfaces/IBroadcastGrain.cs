namespace CountCachula;

/// <summary>
/// The broadcast topic of one tenant (key: the tenant id): the producer of the tenant's broadcast stream (every event,
/// for silos with <c>*</c> or pattern interests) and notice stream (events for everyone, for every silo holding a
/// connection of the tenant), and where silos announce that they read them.
/// </summary>
public interface IBroadcastGrain : IGrainWithStringKey
{
    /// <summary>Hands <paramref name="cacheEvent"/> to the broadcast stream, or to the notice stream when <paramref name="notice"/>.</summary>
    Task Publish(CacheEvent cacheEvent, bool notice);

    /// <summary>Records that the silo <paramref name="listenerId"/> reads the stream of <paramref name="route"/>.</summary>
    /// <returns>The sequence of the last event the hub addressed to that silo (0 if none).</returns>
    Task<long> AddListener(ListenerRoute route, string listenerId);

    /// <summary>Records that <paramref name="listenerId"/> no longer reads the stream of <paramref name="route"/>.</summary>
    Task RemoveListener(ListenerRoute route, string listenerId);
}
