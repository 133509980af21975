namespace CountCachula.AspNetCore.Diagnostics;

/// <summary>
/// One live event's way through the hub and this frontend, reported once on <c>countcachula.hop.duration</c> when its
/// first frame is written to a connection: the hops, in order, are
/// <c>sequence</c> (hub accepted → sequenced), <c>route</c> (hub started routing → a topic grain put it on the inbox
/// stream), <c>stream</c> (→ this frontend's subscription read it), <c>dispatch</c> (→ the dispatcher took it, after
/// ordering and dedupe) and <c>write</c> (→ the first connection's writer wrote it). The history write
/// (<c>record</c>) runs alongside the route and is reported by the hub's silo, not here.
/// Shared by the event's frames; every later write costs one read of a field and allocates nothing.
/// </summary>
internal sealed class HopTimeline(DateTime acceptedUtc, EventHops hops, long dispatchedTicks, CountCachulaMetrics metrics)
{
    private int _written;

    /// <summary>Reports the hops the first time any frame of the event is written; later calls do nothing.</summary>
    public void Written(DateTime nowUtc)
    {
        if (Volatile.Read(ref _written) != 0 || Interlocked.Exchange(ref _written, 1) != 0)
        {
            return;
        }

        Report("sequence", acceptedUtc.Ticks, hops.SequencedTicks);
        Report("route", hops.RoutedTicks, hops.HandedTicks);
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
