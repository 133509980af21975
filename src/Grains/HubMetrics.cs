using System.Diagnostics.Metrics;

namespace CountCachula.Grains;

/// <summary>The hub's instruments, on the <c>countcachula</c> meter of the silo that hosts the hub grain.</summary>
internal sealed class HubMetrics
{
    private readonly Counter<long> _published;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>.</summary>
    public HubMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create("countcachula");
        _published = meter.CreateCounter<long>("countcachula.hub.events.published", description: "Events the hubs accepted, by tenant and kind.");
    }

    internal void Published(CacheEvent cacheEvent) => _published.Add(
        1,
        new KeyValuePair<string, object?>("tenant", cacheEvent.Tenant),
        new KeyValuePair<string, object?>("kind", cacheEvent.Kind switch
        {
            CacheEventKind.Invalidate => "invalidate",
            CacheEventKind.PreloadHint => "preload-hint",
            _ => "custom",
        }));
}
