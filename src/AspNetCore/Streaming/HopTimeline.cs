namespace CountCachula.WebFrontend.Streaming;

/// <summary>
/// One live event's way through the hub and this frontend, reported once on <c>countcachula.hop.duration</c> when its
/// first frame is written to a connection: the hops, in order, are
/// <c>sequence</c> (hub accepted → sequenced), <c>record</c> (→ stored in the history), <c>route</c> (→ a topic
/// grain put it on the inbox stream), <c>stream</c> (→ this frontend's subscription read it), <c>dispatch</c>
/// (→ the dispatcher took it, after ordering and dedupe) and <c>write</c> (→ the first connection's writer wrote it).
/// Shared by the event's frames; every later write costs one read of a field and allocates nothing.
/// </summary>
internal sealed class HopTimeline(DateTime acceptedUtc, EventHops hops, long dispatchedTicks, CountCachulaMetrics metrics)
{
    /// <summary>Fine buckets (ms): the hops of an idle hub are well under a millisecond, the stream's up to a poll interval.</summary>
    internal static readonly double[] BucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 250, 500, 1000, 5000];

    private int _written;

    /// <summary>Reports the hops the first time any frame of the event is written; later calls do nothing.</summary>
    public void Written(DateTime nowUtc)
    {
        if (Volatile.Read(ref _written) != 0 || Interlocked.Exchange(ref _written, 1) != 0)
        {
            return;
        }

        Report("sequence", acceptedUtc.Ticks, hops.SequencedTicks);
        Report("record", hops.SequencedTicks, hops.RecordedTicks);
        Report("route", hops.RecordedTicks, hops.HandedTicks);
        Report("stream", hops.HandedTicks, hops.ReadTicks);
        Report("dispatch", hops.ReadTicks, dispatchedTicks);
        Report("write", dispatchedTicks, nowUtc.Ticks);
    }

    private void Report(string hop, long fromTicks, long toTicks)
    {
        // A stamp that is missing (an older sender) says nothing; clocks of two processes may disagree by a little.
        if (fromTicks > 0 && toTicks > 0)
        {
            metrics.Hop(hop, Math.Max(0, toTicks - fromTicks) / (double)TimeSpan.TicksPerMillisecond);
        }
    }
}
