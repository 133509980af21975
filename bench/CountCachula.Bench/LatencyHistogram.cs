namespace CountCachula.Bench;

/// <summary>
/// A fixed-size, lock-free latency histogram: 10 µs buckets up to 10 s. Recording is one interlocked increment,
/// so the load generator's own cost stays flat however many deliveries it counts.
/// </summary>
internal sealed class LatencyHistogram
{
    private const double BucketMicroseconds = 10;
    private readonly long[] _buckets = new long[1_000_001];
    private long _count;
    private long _maxTicks;

    public long Count => Interlocked.Read(ref _count);

    public void Record(long stopwatchTicks)
    {
        var micros = stopwatchTicks * 1_000_000.0 / System.Diagnostics.Stopwatch.Frequency;
        var bucket = (int)Math.Min(_buckets.Length - 1, Math.Max(0, micros / BucketMicroseconds));
        Interlocked.Increment(ref _buckets[bucket]);
        Interlocked.Increment(ref _count);
        long max;
        while (stopwatchTicks > (max = Interlocked.Read(ref _maxTicks)) && Interlocked.CompareExchange(ref _maxTicks, stopwatchTicks, max) != max)
        {
        }
    }

    /// <summary>The latency below which <paramref name="percentile"/> % of recordings fall, in milliseconds.</summary>
    public double Percentile(double percentile)
    {
        var total = Count;
        if (total == 0)
        {
            return double.NaN;
        }

        var rank = (long)Math.Ceiling(total * percentile / 100.0);
        long seen = 0;
        for (var i = 0; i < _buckets.Length; i++)
        {
            seen += Interlocked.Read(ref _buckets[i]);
            if (seen >= rank)
            {
                return (i + 1) * BucketMicroseconds / 1000.0;
            }
        }

        return MaxMilliseconds;
    }

    public double MaxMilliseconds => Interlocked.Read(ref _maxTicks) * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
}
