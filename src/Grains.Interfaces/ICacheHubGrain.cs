namespace CountCachula;

/// <summary>
/// The hub of one tenant: the cluster-wide entry point for cache invalidations, preload hints and custom events.
/// The grain key is the tenant id; single-tenant applications use <see cref="CacheTenant.Default"/>.
/// </summary>
/// <remarks>
/// A call completes when the event has been validated, given its per-tenant sequence number and handed to the
/// Orleans streams that carry it to every silo's web frontend; it does not wait for browsers to receive it.
/// </remarks>
public interface ICacheHubGrain : IGrainWithStringKey
{
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

    /// <summary>
    /// Invalidates <paramref name="tags"/> every <paramref name="period"/> (the specification's time-based
    /// invalidation), through an Orleans reminder so the schedule outlives the grain and the silo. Scheduling a
    /// name again replaces it.
    /// </summary>
    Task ScheduleInvalidation(string name, IReadOnlyList<string> tags, TimeSpan period);

    /// <summary>Stops the schedule called <paramref name="name"/>; returns false when there was none.</summary>
    Task<bool> CancelScheduledInvalidation(string name);

    /// <summary>The schedules of this tenant.</summary>
    Task<IReadOnlyList<ScheduledInvalidation>> GetScheduledInvalidations();

    /// <summary>The tenant's newest <paramref name="count"/> events from its history, newest first (for dashboards).</summary>
    Task<IReadOnlyList<CacheEvent>> Recent(int count);

    /// <summary>The silo the hub is active on (for diagnostics and failure tests).</summary>
    Task<string> GetSilo();

    /// <summary>
    /// What happened after <paramref name="afterSequence"/> (an SSE <c>Last-Event-ID</c>) or, when that is null, after
    /// <paramref name="since"/>, from the retained history. An id the hub never issued, or a point older than the
    /// history, gives an incomplete answer.
    /// </summary>
    Task<CacheReplay> Replay(long? afterSequence, DateTime? since);

    /// <summary>
    /// Records that the silo <paramref name="listenerId"/> starts (<paramref name="listening"/> true) or stops reading
    /// the stream of <paramref name="route"/>. Called through the topic and broadcast grains; the hub addresses an
    /// event to a stream, and stamps it for a silo, only while some silo reads it.
    /// </summary>
    /// <returns>The sequence of the last event the hub addressed to that silo (0 if none): where its chain resumes.</returns>
    Task<long> SetListener(ListenerRoute route, string listenerId, bool listening);
}

/// <summary>A recurring invalidation of a tenant.</summary>
[GenerateSerializer, Immutable]
public sealed record ScheduledInvalidation
{
    /// <summary>The schedule's name, unique within the tenant.</summary>
    [Id(0)] public required string Name { get; init; }

    /// <summary>The tags invalidated each time.</summary>
    [Id(1)] public required IReadOnlyList<string> Tags { get; init; }

    /// <summary>How often.</summary>
    [Id(2)] public required TimeSpan Period { get; init; }
}

/// <summary>Which of a tenant's streams a silo listens to.</summary>
[GenerateSerializer, Immutable]
public sealed record ListenerRoute
{
    /// <summary>The kind of stream.</summary>
    [Id(0)] public required ListenerRouteKind Kind { get; init; }

    /// <summary>For <see cref="ListenerRouteKind.Tag"/>: the tag.</summary>
    [Id(1)] public string? Tag { get; init; }

    /// <summary>The tenant's broadcast stream: every event.</summary>
    public static ListenerRoute Broadcast { get; } = new() { Kind = ListenerRouteKind.Broadcast };

    /// <summary>The tenant's notice stream: events for everyone.</summary>
    public static ListenerRoute Notices { get; } = new() { Kind = ListenerRouteKind.Notices };

    /// <summary>The stream of one tag.</summary>
    public static ListenerRoute ForTag(string tag) => new() { Kind = ListenerRouteKind.Tag, Tag = tag };
}

/// <summary>The kinds of a tenant's streams.</summary>
[GenerateSerializer]
public enum ListenerRouteKind
{
    /// <summary>Every event of the tenant.</summary>
    Broadcast = 0,

    /// <summary>Events for everyone: unscoped preload hints and custom events.</summary>
    Notices = 1,

    /// <summary>Events addressed to one tag.</summary>
    Tag = 2,
}
