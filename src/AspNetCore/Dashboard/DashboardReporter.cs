using CountCachula.WebFrontend.Connections;
using CountCachula.WebFrontend.Streaming;

namespace CountCachula.WebFrontend.Dashboard;

/// <summary>Each second, takes this silo's figures and reports them to the cluster's <see cref="IDashboardGrain"/>.</summary>
internal sealed partial class DashboardReporter(
    IGrainFactory grains,
    ConnectionRegistry registry,
    TopicSubscriptions subscriptions,
    CountCachulaMetrics metrics,
    RecentActivity activity,
    ILogger<DashboardReporter> logger) : BackgroundService
{
    /// <summary>The key of the cluster's dashboard grain.</summary>
    public const string GrainKey = "cluster";

    /// <summary>The figures last taken here.</summary>
    public SiloSnapshot? Latest { get; private set; }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var (lastEvents, lastDeliveries, lastAt) = (metrics.Events, metrics.Deliveries, DateTime.UtcNow);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = DateTime.UtcNow;
                var seconds = Math.Max(0.001, (now - lastAt).TotalSeconds);
                var (p50, p99) = activity.Percentiles();
                var snapshot = new SiloSnapshot
                {
                    Silo = subscriptions.SiloId,
                    TakenAtUtc = now,
                    ConnectionsByTenant = ConnectionsByTenant(registry),
                    EventsPerSecond = Math.Round((metrics.Events - lastEvents) / seconds, 1),
                    DeliveriesPerSecond = Math.Round((metrics.Deliveries - lastDeliveries) / seconds, 1),
                    LatencyP50Ms = Math.Round(p50, 2),
                    LatencyP99Ms = Math.Round(p99, 2),
                    StreamSubscriptions = subscriptions.Count,
                };
                (lastEvents, lastDeliveries, lastAt) = (metrics.Events, metrics.Deliveries, now);
                Latest = snapshot;
                try
                {
                    await grains.GetGrain<IDashboardGrain>(GrainKey).Report(snapshot);
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    // The dashboard is a view; a failed report must never disturb the hub.
                    LogReportFailed(logger, exception);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>The most tenants a snapshot names; the others are summed up under <see cref="OtherTenants"/>.</summary>
    public const int MaxTenantsShown = 20;

    /// <summary>The entry that sums up the tenants beyond <see cref="MaxTenantsShown"/>.</summary>
    public const string OtherTenants = "(other tenants)";

    /// <summary>Connections of the busiest tenants, and the rest as one sum, so a snapshot stays small with many tenants.</summary>
    internal static Dictionary<string, int> ConnectionsByTenant(ConnectionRegistry registry)
    {
        var counts = registry.Tenants.Select(t => (Tenant: t, Count: registry.Snapshot(t).Length)).OrderByDescending(c => c.Count).ThenBy(c => c.Tenant, StringComparer.Ordinal).ToList();
        var shown = counts.Take(MaxTenantsShown).ToDictionary(c => c.Tenant, c => c.Count, StringComparer.Ordinal);
        if (counts.Count > MaxTenantsShown)
        {
            shown[OtherTenants] = counts.Skip(MaxTenantsShown).Sum(c => c.Count);
        }

        return shown;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Reporting to the dashboard grain failed")]
    private static partial void LogReportFailed(ILogger logger, Exception exception);
}
