using System.Diagnostics.Metrics;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Streaming;

namespace CountCachula.AspNetCore.Dashboard;

/// <summary>
/// Each second, takes this silo's figures and reports them to the cluster's <see cref="IDashboardGrain"/>, then reads
/// back every silo's figures into this silo's <see cref="History"/>, which the dashboard streams to its viewers (so
/// viewers add no calls to the grain however many there are).
/// </summary>
internal sealed partial class DashboardReporter(
    IGrainFactory grains,
    ConnectionRegistry registry,
    TopicSubscriptions subscriptions,
    CountCachulaMetrics metrics,
    RecentActivity activity,
    IMeterFactory meterFactory,
    ILogger<DashboardReporter> logger) : BackgroundService
{
    private readonly WriteLatencies _latencies = new(meterFactory);

    /// <summary>The key of the cluster's dashboard grain.</summary>
    public const string GrainKey = "cluster";

    /// <summary>The figures last taken here.</summary>
    public SiloSnapshot? Latest { get; private set; }

    /// <summary>The cluster's figures of the last minutes, as this silo read them.</summary>
    public DashboardHistory History { get; } = new();

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var (lastEvents, lastDeliveries, lastCoalescings, lastAt) = (metrics.Events, metrics.Deliveries, metrics.Coalescings, DateTime.UtcNow);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = DateTime.UtcNow;
                var seconds = Math.Max(0.001, (now - lastAt).TotalSeconds);
                var (p50, p99) = _latencies.TakePercentiles();
                var snapshot = new SiloSnapshot
                {
                    Silo = subscriptions.SiloId,
                    TakenAtUtc = now,
                    ConnectionsByTenant = TenantsNow(now),
                    EventsPerSecond = Math.Round((metrics.Events - lastEvents) / seconds, 1),
                    DeliveriesPerSecond = Math.Round((metrics.Deliveries - lastDeliveries) / seconds, 1),
                    LatencyP50Ms = Math.Round(p50, 2),
                    LatencyP99Ms = Math.Round(p99, 2),
                    StreamSubscriptions = subscriptions.Count,
                    CoalescingsPerSecond = Math.Round((metrics.Coalescings - lastCoalescings) / seconds, 1),
                    EventsPerSecondByTenant = EventsPerSecondByTenant(activity.TakeEventsByTenant(), seconds),
                };
                (lastEvents, lastDeliveries, lastCoalescings, lastAt) = (metrics.Events, metrics.Deliveries, metrics.Coalescings, now);
                Latest = snapshot;
                try
                {
                    var dashboard = grains.GetGrain<IDashboardGrain>(GrainKey);
                    await dashboard.Report(snapshot);
                    History.Add(now, await dashboard.Silos());
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // The dashboard is a view; a failed (or timed-out) report must never disturb the hub.
                    LogReportFailed(logger, exception);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>
    /// The connections by tenant, taken again every second while the silo serves few tenants and every 10 s past
    /// <see cref="ManyTenants"/>: a pass over thousands of tenants each second was most of what an idle silo with many
    /// tenants spent on the hub's own code.
    /// </summary>
    private Dictionary<string, int> TenantsNow(DateTime nowUtc)
    {
        if (_byTenant is null || registry.Tenants.Count <= ManyTenants || nowUtc - _byTenantAtUtc >= TimeSpan.FromSeconds(10))
        {
            _byTenant = ConnectionsByTenant(registry);
            _byTenantAtUtc = nowUtc;
        }

        return _byTenant;
    }

    /// <summary>Past this many tenants, the connections by tenant are taken every 10 s instead of every second.</summary>
    public const int ManyTenants = 1000;

    private Dictionary<string, int>? _byTenant;
    private DateTime _byTenantAtUtc;

    /// <summary>The most tenants a snapshot names; the others are summed up under <see cref="OtherTenants"/>.</summary>
    public const int MaxTenantsShown = 20;

    /// <summary>The entry that sums up the tenants beyond <see cref="MaxTenantsShown"/>.</summary>
    public const string OtherTenants = "(other tenants)";

    /// <summary>Connections of the busiest tenants, and the rest as one sum, so a snapshot stays small with many tenants.</summary>
    /// <remarks>Taken every second: one pass over the tenants keeping the busiest in a small heap, not a sort of all of them.</remarks>
    internal static Dictionary<string, int> ConnectionsByTenant(ConnectionRegistry registry)
    {
        // The heap's root is the least busy of those kept so far (ties: the name that sorts last goes first).
        var busiest = new PriorityQueue<string, (int Count, string Tenant)>(MaxTenantsShown + 1, s_leastBusyFirst);
        var total = 0;
        foreach (var tenant in registry.Tenants)
        {
            var count = registry.CountOf(tenant);
            total += count;
            busiest.Enqueue(tenant, (count, tenant));
            if (busiest.Count > MaxTenantsShown)
            {
                busiest.Dequeue();
            }
        }

        var shown = new Dictionary<string, int>(busiest.Count + 1, StringComparer.Ordinal);
        while (busiest.TryDequeue(out var tenant, out var priority))
        {
            shown[tenant] = priority.Count;
            total -= priority.Count;
        }

        if (registry.Tenants.Count > MaxTenantsShown)
        {
            shown[OtherTenants] = total;
        }

        return shown;
    }

    private static readonly Comparer<(int Count, string Tenant)> s_leastBusyFirst = Comparer<(int Count, string Tenant)>.Create(
        (a, b) => a.Count != b.Count ? a.Count.CompareTo(b.Count) : StringComparer.Ordinal.Compare(b.Tenant, a.Tenant));

    /// <summary>The busiest <see cref="MaxTenantsShown"/> tenants' event rates, and the rest as one sum.</summary>
    internal static Dictionary<string, double> EventsPerSecondByTenant(Dictionary<string, int> counts, double seconds)
    {
        var ordered = counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).ToList();
        var shown = ordered.Where(c => c.Key != OtherTenants).Take(MaxTenantsShown).ToDictionary(c => c.Key, c => Math.Round(c.Value / seconds, 1), StringComparer.Ordinal);
        var rest = ordered.Where(c => !shown.ContainsKey(c.Key)).Sum(c => c.Value);
        if (rest > 0)
        {
            shown[OtherTenants] = Math.Round(rest / seconds, 1);
        }

        return shown;
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _latencies.Dispose();
        base.Dispose();
    }

    [LoggerMessage(EventId = 4060, Level = LogLevel.Debug, Message = "Reporting to the dashboard grain failed")]
    private static partial void LogReportFailed(ILogger logger, Exception exception);
}
