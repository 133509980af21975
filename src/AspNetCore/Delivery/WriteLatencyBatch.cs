using CountCachula.AspNetCore.Diagnostics;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// The publish-to-write latencies of one writer shard's run, recorded into the metrics once the run has nothing left
/// to write (or this fills up). The histogram is one for all shards: recorded between two sends, each write would take
/// its lock's cache line from the other core, on the path of every delivery; afterwards it costs the same and delays
/// no one.
/// </summary>
/// <remarks>Only ever used by the thread running its shard, which <see cref="WriterShard"/> guarantees is one at a time.</remarks>
internal sealed class WriteLatencyBatch
{
    /// <summary>How many latencies wait at most before they are recorded.</summary>
    internal const int Capacity = 4096;

    [ThreadStatic]
    private static WriteLatencyBatch? t_current;

    private readonly double[] _milliseconds = new double[Capacity];
    private CountCachulaMetrics? _metrics;
    private int _count;

    /// <summary>
    /// Records that a frame published at <paramref name="publishedAtUtc"/> was written at <paramref name="nowUtc"/>:
    /// into the batch of the shard running on this thread, else at once.
    /// </summary>
    public static void Written(CountCachulaMetrics metrics, DateTime publishedAtUtc, DateTime nowUtc)
    {
        var milliseconds = (nowUtc - publishedAtUtc).TotalMilliseconds;
        if (t_current is { } batch)
        {
            batch.Add(metrics, milliseconds);
        }
        else
        {
            metrics.Written(milliseconds);
        }
    }

    /// <summary>Makes this the batch of the calling thread, until <see cref="Close"/>.</summary>
    public void Open() => t_current = this;

    /// <summary>Records what the batch holds and stops collecting on the calling thread.</summary>
    public void Close()
    {
        Flush();
        t_current = null;
    }

    private void Add(CountCachulaMetrics metrics, double milliseconds)
    {
        // Several hubs may share the process (tests); a batch holds one hub's latencies at a time.
        if (_count == Capacity || !ReferenceEquals(metrics, _metrics))
        {
            Flush();
            _metrics = metrics;
        }

        _milliseconds[_count++] = milliseconds;
    }

    private void Flush()
    {
        for (var i = 0; i < _count; i++)
        {
            _metrics!.Written(_milliseconds[i]);
        }

        _count = 0;
    }
}
