namespace CountCachula.WebFrontend.Dashboard;

/// <summary>
/// The last events this silo dispatched and their publish-to-dispatch latencies, in fixed-size rings: what the
/// dashboard shows, at the cost of one lock per event (not per delivery).
/// </summary>
public sealed class RecentActivity
{
    private const int EventCapacity = 30;
    private const int LatencyCapacity = 1024;
    private readonly Lock _lock = new();
    private readonly Queue<RecentEvent> _events = new();
    private readonly double[] _latencies = new double[LatencyCapacity];
    private int _latencyCount;
    private int _latencyNext;

    /// <summary>Records one dispatched event.</summary>
    public void Record(CacheEvent cacheEvent, int deliveries)
    {
        var latency = (DateTime.UtcNow - cacheEvent.PublishedAtUtc).TotalMilliseconds;
        var recent = new RecentEvent(cacheEvent.Sequence, cacheEvent.Tenant, cacheEvent.Kind switch
        {
            CacheEventKind.Invalidate => "invalidate",
            CacheEventKind.PreloadHint => "preload-hint",
            _ => cacheEvent.EventName ?? "custom",
        }, cacheEvent.Kind == CacheEventKind.Custom ? [cacheEvent.Data ?? ""] : cacheEvent.Items, cacheEvent.PublishedAtUtc, Math.Round(latency, 2), deliveries);
        lock (_lock)
        {
            _events.Enqueue(recent);
            if (_events.Count > EventCapacity)
            {
                _events.Dequeue();
            }

            _latencies[_latencyNext] = latency;
            _latencyNext = (_latencyNext + 1) % LatencyCapacity;
            _latencyCount = Math.Min(_latencyCount + 1, LatencyCapacity);
        }
    }

    /// <summary>The recent events, newest first.</summary>
    public IReadOnlyList<RecentEvent> Events()
    {
        lock (_lock)
        {
            return [.. _events.Reverse()];
        }
    }

    /// <summary>The 50th and 99th percentile of recent latencies, ms (0 when there were none).</summary>
    public (double P50, double P99) Percentiles()
    {
        double[] sample;
        lock (_lock)
        {
            sample = _latencies[.._latencyCount];
        }

        if (sample.Length == 0)
        {
            return (0, 0);
        }

        Array.Sort(sample);
        return (sample[(int)Math.Ceiling(sample.Length * 0.50) - 1], sample[(int)Math.Ceiling(sample.Length * 0.99) - 1]);
    }
}

/// <summary>One dispatched event as the dashboard lists it.</summary>
public sealed record RecentEvent(long Id, string Tenant, string Event, IReadOnlyList<string> Items, DateTime PublishedAtUtc, double LatencyMs, int Deliveries);
