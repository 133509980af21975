using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Product;

/// <summary>
/// <c>countcachula.hop.duration</c> explains an event's latency hop by hop: each hop reported once per event, not per
/// connection, and a replayed event is not measured as if it had just been published. No durations are asserted.
/// </summary>
public sealed class HopMetricsTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    private static readonly string[] s_hops = ["sequence", "record", "route", "stream", "dispatch", "write"];

    [Fact]
    public async Task Every_hop_is_reported_once_per_event_and_replays_are_not_measured()
    {
        var factory = frontend.Get<IMeterFactory>();
        var hops = new ConcurrentQueue<(string Hop, double Milliseconds)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "countcachula.hop.duration")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "hop")
                {
                    hops.Enqueue(((string)tag.Value!, value));
                }
            }
        });
        listener.Start();

        var (a, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        var (b, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        var hub = frontend.Get<ICacheHub>();
        string markId;
        await using (a)
        await using (b)
        {
            await hub.InvalidateAsync("hops:mark");
            markId = (await a.NextAsync("the mark on the first stream")).EventId!;
            await b.NextAsync("the mark on the second stream");
            hops.Clear();

            await hub.InvalidateAsync("hops:1");
            Assert.Equal("hops:1", (await a.NextAsync("the event on the first stream")).Data);
            await b.NextAsync("the event on the second stream");
        }

        // The hub reports the history write (it runs alongside the route) before the publish returns; the first write
        // reports the frontend's hops, before its bytes leave; the second connection's write adds nothing.
        Assert.Equal(s_hops.Order(), hops.Select(h => h.Hop).Order());
        Assert.All(hops, h => Assert.True(h.Milliseconds >= 0, $"{h.Hop} took {h.Milliseconds} ms"));

        // A stream resuming after the mark gets the event again from the history, whose copy carries no stamps.
        var before = hops.Count;
        await using (var resumed = await SseClient.ConnectAsync(frontend.Http, "/api/cache-events?lastEventId=" + markId))
        {
            Assert.Equal("connected", (await resumed.NextAsync("connected, resuming", includeHeartbeats: true)).EventType);
            Assert.Equal("hops:1", (await resumed.NextAsync("the replayed event")).Data);
        }

        Assert.Equal(before, hops.Count);
    }
}
