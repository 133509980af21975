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

    /// <summary>
    /// For each silo the hub addressed this event to, the sequence number of the previous event it addressed to that
    /// silo (0 when the hub has no record). A silo that reads several streams uses it to dispatch its events in
    /// sequence order and to tell a late event from a missing one.
    /// </summary>
    [Id(8)] public IReadOnlyDictionary<string, long>? PreviousBySilo { get; init; }

    /// <summary>The tags that decide who receives the event, or null when everyone of the tenant does.</summary>
    public IReadOnlyList<string>? AddressTags => Kind == CacheEventKind.Invalidate ? Items : ScopeTags;
}
