using System.Diagnostics.Metrics;
using CountCachula.AspNetCore.Diagnostics;

namespace CountCachula.AspNetCore.Dashboard;

/// <summary>
/// The last <see cref="Capacity"/> publish-to-write latencies of this silo, read from the
/// <c>countcachula.publish_to_write.duration</c> histogram, so the dashboard shows the same figure as <c>/metrics</c>
/// without a second probe on the write path. Only the meter of this application's <see cref="IMeterFactory"/> is
/// heard: several silos in one process (tests) each see their own writes.
/// </summary>
internal sealed class WriteLatencies : IDisposable
{
    /// <summary>How many of the latest latencies a percentile is taken over at most.</summary>
    public const int Capacity = 1024;

    private const string InstrumentName = "countcachula.publish_to_write.duration";
    private readonly double[] _latencies = new double[Capacity];
    private readonly MeterListener _listener = new();
    private long _written;
    private long _taken;

    /// <summary>Starts listening to the histogram of the meters <paramref name="meterFactory"/> made.</summary>
    public WriteLatencies(IMeterFactory meterFactory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == InstrumentName && instrument.Meter.Name == CountCachulaMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };

        // Called on every write: one interlocked add and one store, no lock. A reader racing a writer may see a slot
        // from the previous lap, which does not matter for a percentile of the last thousand.
        _listener.SetMeasurementEventCallback<double>((_, value, _, _) =>
            _latencies[(Interlocked.Increment(ref _written) - 1) % Capacity] = value);
        _listener.Start();
    }

    /// <summary>
    /// The 50th and 99th percentile, ms, of the writes since the last call (of the latest <see cref="Capacity"/> of
    /// them); 0 when nothing was written since, so a chart shows a quiet second as quiet, not as the last burst.
    /// </summary>
    public (double P50, double P99) TakePercentiles()
    {
        var written = Interlocked.Read(ref _written);
        var count = (int)Math.Min(written - _taken, Capacity);
        _taken = written;
        if (count <= 0)
        {
            return (0, 0);
        }

        var sample = new double[count];
        for (var i = 0; i < count; i++)
        {
            sample[i] = _latencies[(written - 1 - i) % Capacity];
        }

        Array.Sort(sample);
        return (sample[(int)Math.Ceiling(count * 0.50) - 1], sample[(int)Math.Ceiling(count * 0.99) - 1]);
    }

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();
}
