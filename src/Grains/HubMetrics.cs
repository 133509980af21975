using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using CountCachula.Runtime.Metrics;

namespace CountCachula.Grains;

/// <summary>The hub's instruments, on the <c>countcachula</c> meter of the silo that hosts the hub grain.</summary>
public sealed class HubMetrics
{
    private readonly Counter<long> _published;
    private readonly TenantLabels _tenants;
    private readonly Counter<long> _repeated;
    private readonly Counter<long> _routeFailures;
    private readonly Histogram<double> _hops;
    private readonly Counter<long> _declaredFailures;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>.</summary>
    /// <param name="meterFactory">Where the meter comes from.</param>
    /// <param name="configuration">Where <see cref="TenantLabels.LimitKey"/> is read; the default limit without it.</param>
    public HubMetrics(IMeterFactory meterFactory, IConfiguration? configuration = null)
    {
        _tenants = new TenantLabels(configuration?.GetValue(TenantLabels.LimitKey, TenantLabels.DefaultLimit) ?? TenantLabels.DefaultLimit);
        var meter = meterFactory.Create("countcachula");
        _published = meter.CreateCounter<long>("countcachula.hub.events.published", description: "Events the hubs accepted, by tenant and kind.");
        _repeated = meter.CreateCounter<long>("countcachula.hub.publishes.repeated", description: "Publishes answered from the idempotency window instead of being published again.");
        _hops = HopDurations.Create(meter);
        _declaredFailures = meter.CreateCounter<long>("countcachula.declared.publish.failures", description: "Invalidations declared on grain methods ([InvalidatesCacheTags]) whose publish failed after the call succeeded (logged as warnings).");
        _routeFailures = meter.CreateCounter<long>("countcachula.hub.route.failures", description: "Recorded events whose routing to the topic grains failed or timed out (listeners recover them from the history).");
    }

    /// <summary>Records a zero per kind (and for repeats, route failures and declared-publish failures) for <paramref name="tenant"/>, so the counters are on <c>/metrics</c> from start.</summary>
    public void ReportZeros(string tenant)
    {
        foreach (var kind in (string[])["invalidate", "preload-hint", "custom"])
        {
            _published.Add(0, new KeyValuePair<string, object?>("tenant", _tenants.For(tenant)), new KeyValuePair<string, object?>("kind", kind));
        }

        _repeated.Add(0, new KeyValuePair<string, object?>("tenant", _tenants.For(tenant)));
        _routeFailures.Add(0, new KeyValuePair<string, object?>("tenant", _tenants.For(tenant)));
        _declaredFailures.Add(0, new KeyValuePair<string, object?>("tenant", _tenants.For(tenant)));
    }

    internal void Published(CacheEvent cacheEvent) => _published.Add(
        1,
        new KeyValuePair<string, object?>("tenant", _tenants.For(cacheEvent.Tenant)),
        new KeyValuePair<string, object?>("kind", cacheEvent.Kind switch
        {
            CacheEventKind.Invalidate => "invalidate",
            CacheEventKind.PreloadHint => "preload-hint",
            _ => "custom",
        }));

    internal void Repeated(string tenant) => _repeated.Add(1, new KeyValuePair<string, object?>("tenant", _tenants.For(tenant)));

    /// <summary>The <c>record</c> hop of one event: sequenced → the history accepted it (the route runs alongside).</summary>
    internal void Recorded(long sequencedTicks, long recordedTicks) =>
        _hops.RecordHop("record", Math.Max(0, recordedTicks - sequencedTicks) / (double)TimeSpan.TicksPerMillisecond);

    internal void DeclaredPublishFailed(string tenant) => _declaredFailures.Add(1, new KeyValuePair<string, object?>("tenant", _tenants.For(tenant)));

    internal void RouteFailed(string tenant) => _routeFailures.Add(1, new KeyValuePair<string, object?>("tenant", _tenants.For(tenant)));
}
