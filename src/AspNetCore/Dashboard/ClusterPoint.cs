namespace CountCachula.AspNetCore.Dashboard;

/// <summary>One silo's, or the whole cluster's, charted figures at one moment.</summary>
/// <param name="Events">Events dispatched per second.</param>
/// <param name="Deliveries">Deliveries to connections per second.</param>
/// <param name="Connections">Open connections.</param>
/// <param name="P50">Publish-to-write latency, 50th percentile, ms (for the cluster: the worst silo's).</param>
/// <param name="P99">Publish-to-write latency, 99th percentile, ms (for the cluster: the worst silo's).</param>
/// <param name="Coalescings">Slow clients' queues coalesced per second.</param>
internal sealed record Figures(double Events, double Deliveries, double Connections, double P50, double P99, double Coalescings)
{
    public static Figures Of(SiloSnapshot silo) => new(
        silo.EventsPerSecond,
        silo.DeliveriesPerSecond,
        silo.ConnectionsByTenant.Values.Sum(),
        silo.LatencyP50Ms,
        silo.LatencyP99Ms,
        silo.CoalescingsPerSecond);

    /// <summary>Rates and connections add up over silos; percentiles cannot, so the worst silo stands for the cluster.</summary>
    public static Figures Sum(IReadOnlyCollection<Figures> figures) => new(
        figures.Sum(f => f.Events),
        figures.Sum(f => f.Deliveries),
        figures.Sum(f => f.Connections),
        figures.Select(f => f.P50).DefaultIfEmpty().Max(),
        figures.Select(f => f.P99).DefaultIfEmpty().Max(),
        figures.Sum(f => f.Coalescings));

    /// <summary>The mean of each figure; a latency of 0 means nothing was written that second, so it is left out.</summary>
    public static Figures Average(IReadOnlyCollection<Figures> figures) => new(
        Math.Round(figures.Average(f => f.Events), 1),
        Math.Round(figures.Average(f => f.Deliveries), 1),
        Math.Round(figures.Average(f => f.Connections), 1),
        Math.Round(figures.Select(f => f.P50).Where(p => p > 0).DefaultIfEmpty().Average(), 2),
        Math.Round(figures.Select(f => f.P99).Where(p => p > 0).DefaultIfEmpty().Average(), 2),
        Math.Round(figures.Average(f => f.Coalescings), 1));
}

/// <summary>One tenant's charted figures over the cluster at one moment.</summary>
internal sealed record TenantFigures(double Connections, double Events);

/// <summary>The cluster at one moment: its totals, each silo (at most <see cref="DashboardHistory.MaxSilos"/>), each busy tenant.</summary>
internal sealed record ClusterPoint(DateTime At, Figures Cluster, Dictionary<string, Figures> Silos, Dictionary<string, TenantFigures> Tenants)
{
    public static ClusterPoint From(DateTime at, IReadOnlyList<SiloSnapshot> silos)
    {
        var figures = silos.ToDictionary(s => s.Silo, Figures.Of, StringComparer.Ordinal);
        var named = figures.OrderBy(f => f.Key, StringComparer.Ordinal).Take(DashboardHistory.MaxSilos).ToDictionary(StringComparer.Ordinal);
        var tenants = new Dictionary<string, TenantFigures>(StringComparer.Ordinal);
        foreach (var silo in silos)
        {
            foreach (var (tenant, count) in silo.ConnectionsByTenant)
            {
                var t = tenants.GetValueOrDefault(tenant) ?? new(0, 0);
                tenants[tenant] = t with { Connections = t.Connections + count };
            }

            foreach (var (tenant, rate) in silo.EventsPerSecondByTenant ?? new Dictionary<string, double>())
            {
                var t = tenants.GetValueOrDefault(tenant) ?? new(0, 0);
                tenants[tenant] = t with { Events = t.Events + rate };
            }
        }

        return new(at, Figures.Sum(figures.Values), named, Busiest(tenants));
    }

    /// <summary>The average of the points of one step (their last moment).</summary>
    public static ClusterPoint Average(IEnumerable<ClusterPoint> step)
    {
        var points = step.ToList();
        var silos = points.SelectMany(p => p.Silos).GroupBy(s => s.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Figures.Average([.. g.Select(s => s.Value)]), StringComparer.Ordinal);
        var tenants = points.SelectMany(p => p.Tenants).GroupBy(t => t.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => new TenantFigures(Math.Round(g.Sum(t => t.Value.Connections) / points.Count, 1), Math.Round(g.Sum(t => t.Value.Events) / points.Count, 1)), StringComparer.Ordinal);
        return new(points[^1].At, Figures.Average([.. points.Select(p => p.Cluster)]), silos, tenants);
    }

    private static Dictionary<string, TenantFigures> Busiest(Dictionary<string, TenantFigures> tenants)
    {
        var ordered = tenants.OrderByDescending(t => t.Value.Connections + t.Value.Events).ThenBy(t => t.Key, StringComparer.Ordinal).ToList();
        var shown = ordered.Where(t => t.Key != DashboardReporter.OtherTenants).Take(DashboardHistory.MaxTenants).ToDictionary(StringComparer.Ordinal);
        var rest = ordered.Where(t => !shown.ContainsKey(t.Key)).ToList();
        if (rest.Count > 0)
        {
            shown[DashboardReporter.OtherTenants] = new(rest.Sum(t => t.Value.Connections), rest.Sum(t => t.Value.Events));
        }

        return shown;
    }
}
