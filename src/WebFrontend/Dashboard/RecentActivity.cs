namespace CountCachula.WebFrontend.Dashboard;

/// <summary>
/// The publish-to-dispatch latencies of the last events this silo dispatched, in a fixed-size ring: what the dashboard
/// shows as percentiles, at the cost of one lock per event (not per delivery).
/// </summary>
public sealed class RecentActivity
{
    private const int Capacity = 1024;
    private readonly Lock _lock = new();
    private readonly double[] _latencies = new double[Capacity];
    private int _count;
    private int _next;

    /// <summary>Records one dispatched event.</summary>
    public void Record(CacheEvent cacheEvent)
    {
        var latency = (DateTime.UtcNow - cacheEvent.PublishedAtUtc).TotalMilliseconds;
        lock (_lock)
        {
            _latencies[_next] = latency;
            _next = (_next + 1) % Capacity;
            _count = Math.Min(_count + 1, Capacity);
        }
    }

    /// <summary>The 50th and 99th percentile of recent latencies, ms (0 when there were none).</summary>
    public (double P50, double P99) Percentiles()
    {
        double[] sample;
        lock (_lock)
        {
            sample = _latencies[.._count];
        }

        if (sample.Length == 0)
        {
            return (0, 0);
        }

        Array.Sort(sample);
        return (sample[(int)Math.Ceiling(sample.Length * 0.50) - 1], sample[(int)Math.Ceiling(sample.Length * 0.99) - 1]);
    }
}

/// <summary>One recent event of the tenant as the dashboard lists it, cut down to what a glance needs.</summary>
public sealed record RecentEvent(long Id, string Tenant, string Event, IReadOnlyList<string> Items, DateTime PublishedAtUtc)
{
    /// <summary>The most items (tags or routes) listed per event; the rest are summed up as "… and N more".</summary>
    public const int MaxItems = 10;

    /// <summary>The most characters shown of one item or of a custom event's data.</summary>
    public const int MaxItemLength = 200;

    /// <summary>The dashboard's view of <paramref name="cacheEvent"/>.</summary>
    public static RecentEvent From(CacheEvent cacheEvent)
    {
        IReadOnlyList<string> items = cacheEvent.Kind == CacheEventKind.Custom ? [cacheEvent.Data ?? ""] : cacheEvent.Items;
        var shown = items.Take(MaxItems).Select(Shorten).ToList();
        if (items.Count > MaxItems)
        {
            shown.Add($"… and {items.Count - MaxItems} more");
        }

        return new(
            cacheEvent.Sequence,
            cacheEvent.Tenant,
            cacheEvent.Kind switch
            {
                CacheEventKind.Invalidate => "invalidate",
                CacheEventKind.PreloadHint => "preload-hint",
                _ => cacheEvent.EventName ?? "custom",
            },
            shown,
            cacheEvent.PublishedAtUtc);
    }

    private static string Shorten(string item) =>
        item.Length <= MaxItemLength ? item : $"{item[..MaxItemLength]}… ({item.Length} characters)";
}
