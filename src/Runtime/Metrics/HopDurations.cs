using System.Diagnostics.Metrics;

namespace CountCachula.Runtime.Metrics;

/// <summary>
/// The histogram <c>countcachula.hop.duration</c>, defined once: the frontend reports the hops it can see from an
/// event's stamps, the hub reports <c>record</c>. A process that hosts both gets one instrument (a meter returns the
/// instrument it already has for the same name, unit and description).
/// </summary>
internal static class HopDurations
{
    /// <summary>Fine buckets (ms): the hops of an idle hub are well under a millisecond; under load a backlog stretches them to seconds.</summary>
    internal static readonly double[] BucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 250, 500, 1000, 5000];

    /// <summary>The histogram on <paramref name="meter"/>.</summary>
    internal static Histogram<double> Create(Meter meter) => meter.CreateHistogram(
        "countcachula.hop.duration",
        unit: "ms",
        description: "Time an event spent in each hop from publish to its first write (hop: sequence, record, route, stream, dispatch, write; record is reported by the hub's silo, the others by each frontend).",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = BucketBoundaries });

    /// <summary>Records <paramref name="milliseconds"/> for <paramref name="hop"/>.</summary>
    internal static void RecordHop(this Histogram<double> histogram, string hop, double milliseconds) =>
        histogram.Record(milliseconds, new KeyValuePair<string, object?>("hop", hop));
}
