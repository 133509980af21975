namespace CountCachula;

/// <summary>One event published by a tenant's hub, as it travels through the grains and streams.</summary>
[GenerateSerializer, Immutable]
public sealed record CacheEvent
{
    /// <summary>The tenant whose hub published the event.</summary>
    [Id(0)] public required string Tenant { get; init; }

    /// <summary>Position in the tenant's sequence, assigned by the hub grain; increases with every event.</summary>
    [Id(1)] public required long Sequence { get; init; }

    /// <summary>Whether <see cref="Items"/> are tags to invalidate, routes to preload, or the lines of a custom event.</summary>
    [Id(2)] public required CacheEventKind Kind { get; init; }

    /// <summary>The validated tags or routes, in the publisher's order, without duplicates; empty for custom events.</summary>
    [Id(3)] public required IReadOnlyList<string> Items { get; init; }

    /// <summary>When the hub accepted the event (UTC), used for publish-to-client latency.</summary>
    [Id(4)] public required DateTime PublishedAtUtc { get; init; }

    /// <summary>
    /// For preload hints and custom events: the tags whose interested connections receive it; null means everyone.
    /// Invalidations are addressed by their own <see cref="Items"/>.
    /// </summary>
    [Id(5)] public IReadOnlyList<string>? ScopeTags { get; init; }

    /// <summary>For custom events: the SSE event name.</summary>
    [Id(6)] public string? EventName { get; init; }

    /// <summary>For custom events: the data, possibly several lines.</summary>
    [Id(7)] public string? Data { get; init; }

    // Id 8 carried per-silo stamps of an earlier design; it stays unused so old payloads never mean something new.

    /// <summary>
    /// The activation of the hub that sequenced the event (a number that differs per hub activation). A listener that
    /// sees it change knows the hub moved, and asks the history what it may have missed meanwhile.
    /// </summary>
    [Id(9)] public long HubEpoch { get; init; }

    /// <summary>The publisher's idempotency key, if it gave one: kept with the event so a retry is recognised by any later hub activation.</summary>
    [Id(10)] public string? IdempotencyKey { get; init; }

    /// <summary>
    /// The W3C <c>traceparent</c> of the publish span that accepted the event, or null when nothing was tracing. Each
    /// frontend's dispatch span continues it (see <see cref="CacheTracing"/>). Null in events recorded before it existed.
    /// </summary>
    [Id(11)] public string? TraceParent { get; init; }

    /// <summary>Per-hop timestamps of a live event (see <see cref="EventHops"/>); null in the history's copy.</summary>
    [Id(12)] internal EventHops? Hops { get; init; }

    /// <summary>
    /// On a listener's inbox: the sequence of the event this hub activation routed to that listener before this one
    /// (the greater of that and the newest event whose routing failed), or 0 when it routed none. A listener that has
    /// not received that event knows it missed one, and reads it from the history before it goes on (see
    /// <see cref="RouteLinks"/>). Null-equivalent (0) in the history's copy.
    /// </summary>
    [Id(13)] internal long PreviousRouted { get; init; }

    /// <summary>What the hub hands its routers with the event, to stamp <see cref="PreviousRouted"/>; never on an inbox.</summary>
    [Id(14)] internal RouteLinks? Links { get; init; }

    /// <summary>See <see cref="CachePublication.Public"/>: an unscoped hint or custom event that every stream may receive.</summary>
    [Id(15)] public bool Public { get; init; }

    /// <summary>
    /// True when only streams granted every tag (<c>*</c>) may receive the event: a hint or custom event with no
    /// <see cref="ScopeTags"/> that its publisher did not mark <see cref="Public"/>.
    /// </summary>
    public bool ForFullGrantsOnly => Kind != CacheEventKind.Invalidate && ScopeTags is null && !Public;

    /// <summary>The tags that decide who receives the event, or null when everyone of the tenant does.</summary>
    public IReadOnlyList<string>? AddressTags => Kind == CacheEventKind.Invalidate ? Items : ScopeTags;
}
