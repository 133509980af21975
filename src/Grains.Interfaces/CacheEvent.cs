namespace CountCachula;

/// <summary>One event published by a tenant's hub, as it travels through the grains and streams.</summary>
[GenerateSerializer, Immutable]
public sealed record CacheEvent
{
    /// <summary>The tenant whose hub published the event.</summary>
    [Id(0)] public required string Tenant { get; init; }

    /// <summary>Position in the tenant's sequence, assigned by the hub grain; increases with every event.</summary>
    [Id(1)] public required long Sequence { get; init; }

    /// <summary>Whether <see cref="Items"/> are tags to invalidate or routes to preload.</summary>
    [Id(2)] public required CacheEventKind Kind { get; init; }

    /// <summary>The validated tags or routes, in the publisher's order, without duplicates.</summary>
    [Id(3)] public required IReadOnlyList<string> Items { get; init; }

    /// <summary>When the hub accepted the event (UTC), used for publish-to-client latency.</summary>
    [Id(4)] public required DateTime PublishedAtUtc { get; init; }
}
