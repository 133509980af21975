namespace CountCachula;

/// <summary>
/// The hub of one tenant: the cluster-wide entry point for cache invalidations, preload hints and custom events.
/// The grain key is the tenant id; single-tenant applications use <see cref="CacheTenant.Default"/>.
/// </summary>
/// <remarks>
/// A call completes when the event has been validated, given its per-tenant sequence number and recorded in the
/// tenant's history (durably, in grain storage); routing it to the listeners follows before the next event, but a
/// routing failure does not fail the call (listeners recover recorded events from the history). A call that throws
/// <see cref="HubUnavailableException"/> or an Orleans transport error published nothing new: retry it, with an
/// idempotency key (<see cref="Publish"/>) to make the retry exactly-once.
/// </remarks>
public interface ICacheHubGrain : IGrainWithStringKey
{
    /// <summary>
    /// Publishes <paramref name="publication"/>; when it carries an idempotency key the hub accepted within its
    /// window, nothing is published again and the original sequence is returned.
    /// </summary>
    /// <exception cref="ArgumentException">The publication breaks the rules of <see cref="CacheInput"/>, <see cref="CustomEvents"/> or <see cref="IdempotencyKeys"/>.</exception>
    /// <exception cref="HubUnavailableException">The hub cannot record events right now; nothing was published.</exception>
    Task<PublishReceipt> Publish(CachePublication publication);

    /// <summary>Tells every interested browser that cached responses carrying any of <paramref name="tags"/> are stale.</summary>
    /// <exception cref="ArgumentException">A tag is empty, too long, contains CR, LF or NUL, or there are too many.</exception>
    Task Invalidate(IReadOnlyList<string> tags);

    /// <summary>Suggests routes that every browser of the tenant should fetch ahead of need.</summary>
    /// <exception cref="ArgumentException">A route is empty, too long, contains CR, LF or NUL, or there are too many.</exception>
    Task PreloadHint(IReadOnlyList<string> routes);

    /// <summary>
    /// Suggests routes to the browsers interested in any of <paramref name="scopeTags"/> only (everyone when null).
    /// </summary>
    Task PreloadHint(IReadOnlyList<string> routes, IReadOnlyList<string>? scopeTags);

    /// <summary>
    /// Sends an application-defined event (<c>event: {eventName}</c>, <c>data: {data}</c>) to the browsers interested
    /// in any of <paramref name="scopeTags"/>, or to everyone when null. See <see cref="CustomEvents"/> for the rules.
    /// </summary>
    Task Broadcast(string eventName, string data, IReadOnlyList<string>? scopeTags);

    /// <summary>The tenant's newest <paramref name="count"/> events from its history, newest first (for dashboards).</summary>
    Task<IReadOnlyList<CacheEvent>> Recent(int count);

    /// <summary>How many events, and how many bytes of them, the tenant's history keeps.</summary>
    Task<HistoryStats> GetHistoryStats();

    /// <summary>The silo the hub is active on (for diagnostics and failure tests).</summary>
    Task<string> GetSilo();

    /// <summary>
    /// What happened after <paramref name="afterSequence"/> (an SSE <c>Last-Event-ID</c>) or, when that is null, after
    /// <paramref name="since"/>, from the retained history. An id the hub never issued, or a point older than the
    /// history, gives an incomplete answer.
    /// </summary>
    Task<CacheReplay> Replay(long? afterSequence, DateTime? since);
}
