using System.Text.Json;

namespace CountCachula.AspNetCore.Dashboard;

/// <summary>
/// The cluster's figures of the last <see cref="Capacity"/> seconds, one point a second, so a dashboard opened now
/// draws the last minutes at once. Bounded in count (a ring of points), in width (at most
/// <see cref="MaxSilos"/> silos and <see cref="MaxTenants"/> tenants by name per point) and, when sent, in bytes.
/// </summary>
public sealed class DashboardHistory
{
    /// <summary>Seconds kept: ten minutes.</summary>
    public const int Capacity = 600;

    /// <summary>Seconds per point of the history a viewer receives when it connects.</summary>
    public const int StepSeconds = 5;

    /// <summary>The most silos a point names; the others are left out of the per-silo lines (not of the totals).</summary>
    public const int MaxSilos = 16;

    /// <summary>The most tenants a point names; the others are summed up under <see cref="DashboardReporter.OtherTenants"/>.</summary>
    public const int MaxTenants = DashboardReporter.MaxTenantsShown;

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);
    private readonly Lock _lock = new();
    private readonly ClusterPoint?[] _points = new ClusterPoint?[Capacity];
    private int _next;
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The moment and silos of the latest point (what the live snapshot lists); no moment and no silos before the first.</summary>
    public (DateTime? At, IReadOnlyList<SiloSnapshot> Silos) Latest { get; private set; } = (null, []);

    /// <summary>Completes when the next point is added: a viewer sends each point once, in step with the reporter.</summary>
    public Task WhenAdded()
    {
        lock (_lock)
        {
            return _added.Task;
        }
    }

    /// <summary>Adds the cluster's figures at <paramref name="at"/>.</summary>
    public void Add(DateTime at, IReadOnlyList<SiloSnapshot> silos)
    {
        var point = ClusterPoint.From(at, silos);
        TaskCompletionSource added;
        lock (_lock)
        {
            _points[_next] = point;
            _next = (_next + 1) % Capacity;
            Latest = (at, silos);
            added = _added;
            _added = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        added.SetResult();
    }

    /// <summary>
    /// The history as JSON, averaged into <see cref="StepSeconds"/>-second steps, oldest first, at most
    /// <paramref name="maxBytes"/> long: while it is larger, the older half is left out.
    /// </summary>
    public byte[] ToJson(int maxBytes)
    {
        List<ClusterPoint> points;
        lock (_lock)
        {
            points = [.. _points[_next..].Concat(_points[.._next]).OfType<ClusterPoint>()];
        }

        var steps = points.GroupBy(p => p.At.Ticks / TimeSpan.TicksPerSecond / StepSeconds).Select(ClusterPoint.Average).ToList();
        while (true)
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(HistoryView.From(steps), s_json);
            if (json.Length <= maxBytes || steps.Count == 0)
            {
                return json;
            }

            steps.RemoveRange(0, Math.Max(1, steps.Count / 2));
        }
    }

    /// <summary>What a viewer receives: the times, then one array of values per series, aligned with the times (null where a silo or tenant was absent).</summary>
    private sealed record HistoryView(
        int StepSeconds,
        IReadOnlyList<long> Times,
        Dictionary<string, double?[]> Cluster,
        Dictionary<string, Dictionary<string, double?[]>> Silos,
        Dictionary<string, Dictionary<string, double?[]>> Tenants)
    {
        public static HistoryView From(List<ClusterPoint> steps)
        {
            var times = steps.Select(s => new DateTimeOffset(s.At, TimeSpan.Zero).ToUnixTimeMilliseconds()).ToList();
            var cluster = Series(steps.Select(s => (Figures?)s.Cluster).ToList());
            var silos = steps.SelectMany(s => s.Silos.Keys).Distinct(StringComparer.Ordinal).ToDictionary(
                id => id, id => Series(steps.Select(s => s.Silos.TryGetValue(id, out var f) ? f : (Figures?)null).ToList()), StringComparer.Ordinal);
            var tenants = steps.SelectMany(s => s.Tenants.Keys).Distinct(StringComparer.Ordinal).ToDictionary(
                name => name,
                name => new Dictionary<string, double?[]>
                {
                    ["connections"] = [.. steps.Select(s => s.Tenants.TryGetValue(name, out var t) ? t.Connections : (double?)null)],
                    ["events"] = [.. steps.Select(s => s.Tenants.TryGetValue(name, out var t) ? t.Events : (double?)null)],
                },
                StringComparer.Ordinal);
            return new(DashboardHistory.StepSeconds, times, cluster, silos, tenants);
        }

        private static Dictionary<string, double?[]> Series(List<Figures?> figures) => new()
        {
            ["events"] = [.. figures.Select(f => f?.Events)],
            ["deliveries"] = [.. figures.Select(f => f?.Deliveries)],
            ["connections"] = [.. figures.Select(f => f?.Connections)],
            ["p50"] = [.. figures.Select(f => f?.P50)],
            ["p99"] = [.. figures.Select(f => f?.P99)],
            ["coalescings"] = [.. figures.Select(f => f?.Coalescings)],
        };
    }
}
