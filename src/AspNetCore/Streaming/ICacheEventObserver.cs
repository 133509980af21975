namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// Something told of every event the <see cref="CacheEventDispatcher"/> hands to this silo's connections: the
/// output-cache eviction, the dashboard's activity counts, the metrics. Registered in the service collection (any
/// number of them) and called in registration order, on the dispatching thread, never under a lock.
/// </summary>
/// <remarks>
/// The dispatcher knows observers only through this seam, so none of them depends on it and it depends on none of them.
/// An observer must be quick and must not throw. What it has to wait for (a remote store) it returns as a task: the
/// tenant's events then wait for it, while the dispatching thread goes on with other work.
/// </remarks>
internal interface ICacheEventObserver
{
    /// <summary>
    /// Called before any connection is given <paramref name="cacheEvent"/>: what must happen before a browser is told.
    /// The event (and every later one of its tenant) is given to connections once the returned task completed.
    /// </summary>
    ValueTask BeforeDispatch(CacheEvent cacheEvent);

    /// <summary>
    /// Called once this silo's connections of the event's tenant were given <paramref name="cacheEvent"/>;
    /// <paramref name="delivered"/> of them took it. Not called when the silo has no connection of the tenant.
    /// </summary>
    void AfterDispatch(CacheEvent cacheEvent, int delivered);
}
