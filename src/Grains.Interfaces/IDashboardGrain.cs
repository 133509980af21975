namespace CountCachula;

/// <summary>
/// Where every silo's frontend reports its figures each second, so any silo's dashboard can show the whole cluster
/// (key: <c>cluster</c>).
/// </summary>
public interface IDashboardGrain : IGrainWithStringKey
{
    /// <summary>Records the latest figures of one silo.</summary>
    Task Report(SiloSnapshot snapshot);

    /// <summary>The latest figures of every silo that reported recently.</summary>
    Task<IReadOnlyList<SiloSnapshot>> Silos();
}

/// <summary>One silo's frontend at one moment.</summary>
[GenerateSerializer, Immutable]
public sealed record SiloSnapshot
{
    /// <summary>The silo's id.</summary>
    [Id(0)] public required string Silo { get; init; }

    /// <summary>When the figures were taken (UTC).</summary>
    [Id(1)] public required DateTime TakenAtUtc { get; init; }

    /// <summary>Open connections per tenant.</summary>
    [Id(2)] public required IReadOnlyDictionary<string, int> ConnectionsByTenant { get; init; }

    /// <summary>Events dispatched per second over the last interval.</summary>
    [Id(3)] public required double EventsPerSecond { get; init; }

    /// <summary>Deliveries per second over the last interval.</summary>
    [Id(4)] public required double DeliveriesPerSecond { get; init; }

    /// <summary>Publish-to-write latency of recent writes to connections, 50th percentile, ms.</summary>
    [Id(5)] public required double LatencyP50Ms { get; init; }

    /// <summary>Publish-to-write latency of recent writes to connections, 99th percentile, ms.</summary>
    [Id(6)] public required double LatencyP99Ms { get; init; }

    /// <summary>Streams the silo reads.</summary>
    [Id(7)] public required int StreamSubscriptions { get; init; }

    /// <summary>Times per second a slow client's pending frames were coalesced, over the last interval.</summary>
    [Id(8)] public double CoalescingsPerSecond { get; init; }

    /// <summary>
    /// Events dispatched per second over the last interval, per tenant (the busiest ones, the rest summed up; absent
    /// from silos that report no tenants).
    /// </summary>
    [Id(9)] public IReadOnlyDictionary<string, double>? EventsPerSecondByTenant { get; init; }
}
