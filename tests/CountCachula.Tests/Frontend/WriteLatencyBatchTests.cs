using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace CountCachula.Tests.Frontend;

public sealed class WriteLatencyBatchTests
{
    [Fact]
    public async Task A_shards_write_latencies_reach_each_hubs_histogram_when_its_run_ends_and_elsewhere_at_once()
    {
        // Two hubs in one process, as in tests: each has its own meter factory, hence its own histogram.
        using var firstServices = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var secondServices = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factories = new[] { firstServices.GetRequiredService<IMeterFactory>(), secondServices.GetRequiredService<IMeterFactory>() };
        var first = new CountCachulaMetrics(factories[0]);
        var second = new CountCachulaMetrics(factories[1]);
        var recorded = new ConcurrentQueue<(Instrument Histogram, double Milliseconds)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "countcachula.publish_to_write.duration" && factories.Contains(instrument.Meter.Scope))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => recorded.Enqueue((instrument, value)));
        listener.Start();

        var published = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var batch = new WriteLatencyBatch();

        // On its own thread, as a shard's run is: the two hubs' writes interleave, each lands in its own histogram.
        await Task.Factory.StartNew(
            () =>
            {
                batch.Open();
                WriteLatencyBatch.Written(first, published, published.AddMilliseconds(1));
                WriteLatencyBatch.Written(second, published, published.AddMilliseconds(2));
                WriteLatencyBatch.Written(first, published, published.AddMilliseconds(3));
                WriteLatencyBatch.Written(first, published, published.AddMilliseconds(4));
                batch.Close();
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        // Grouped by histogram, the first hub's writes are 1, 3 and 4, the second's 2.
        var byHistogram = recorded.GroupBy(r => r.Histogram).Select(g => string.Join(",", g.Select(r => r.Milliseconds))).Order();
        Assert.Equal(["1,3,4", "2"], byHistogram);

        // A write on a thread without an open batch is recorded at once.
        WriteLatencyBatch.Written(second, published, published.AddMilliseconds(5));
        Assert.Equal(5, recorded.Count);
        Assert.Equal(5.0, recorded.Last().Milliseconds);
    }
}
