namespace CountCachula;

/// <summary>
/// The broadcast topic of one tenant (key: the tenant id). It owns the tenant's listeners that want every event
/// (<see cref="BroadcastInterest.Everything"/>: a <c>*</c> or prefix-pattern connection) and those that want the
/// events addressed to everyone (<see cref="BroadcastInterest.Notices"/>: every listener with a connection of the
/// tenant), and routes to their inboxes. Its registrations are kept in grain storage: they change only when a web
/// server gains its first or loses its last stream of the tenant, and a listener of every event must never be
/// forgotten silently (a new activation after its silo died reads them back).
/// </summary>
public interface IBroadcastGrain : IGrainWithStringKey
{
    /// <summary>
    /// Records that <paramref name="listenerId"/> wants <paramref name="interest"/>, durably (in grain storage, so the
    /// registration outlives this grain's silo). Idempotent.
    /// </summary>
    /// <returns>
    /// The sequence of the newest event this grain was asked to route before the registration took effect (0 when it
    /// knows none): every later event reaches the listener.
    /// </returns>
    Task<long> Listen(string listenerId, BroadcastInterest interest);

    /// <summary>Records that <paramref name="listenerId"/> no longer wants <paramref name="interest"/>. Idempotent.</summary>
    Task Unlisten(string listenerId, BroadcastInterest interest);

    /// <summary>
    /// Puts <paramref name="cacheEvent"/> on the inbox of every live <see cref="BroadcastInterest.Everything"/>
    /// listener, and of every notice listener when it is addressed to everyone (no address tags, or <c>*</c>); says
    /// which listeners those were.
    /// </summary>
    Task<IReadOnlyList<string>> Route(CacheEvent cacheEvent);

    /// <summary>The listeners of <paramref name="interest"/> (diagnostics and tests).</summary>
    Task<IReadOnlyList<string>> Listeners(BroadcastInterest interest);
}

/// <summary>What a listener wants from a tenant's broadcast topic.</summary>
[GenerateSerializer]
public enum BroadcastInterest
{
    /// <summary>Every event of the tenant.</summary>
    Everything = 0,

    /// <summary>Events addressed to everyone: unscoped hints and custom events, and invalidations of <c>*</c>.</summary>
    Notices = 1,
}
