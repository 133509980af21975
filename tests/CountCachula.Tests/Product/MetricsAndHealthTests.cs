using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Product;

/// <summary>The instruments count exactly what happened; the health and scrape endpoints answer.</summary>
public sealed class MetricsAndHealthTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    [Fact]
    public async Task Instruments_count_known_traffic_exactly()
    {
        // Only this app's meter: other tests run their own apps in this process.
        var factory = frontend.Get<IMeterFactory>();
        var totals = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == CountCachulaMetrics.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => totals.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
        listener.SetMeasurementEventCallback<double>((instrument, _, _, _) => totals.AddOrUpdate(instrument.Name + ".count", 1, (_, sum) => sum + 1));
        listener.Start();

        var (a, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        var (b, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=only-this");
        await using (a)
        await using (b)
        {
            var hub = frontend.Get<ICacheHub>();
            await hub.InvalidateAsync("metrics:1");
            await hub.InvalidateAsync("metrics:2");
            await hub.InvalidateAsync("only-this");
            await a.NextAsync("first event on the * stream");
            await a.NextAsync("second event on the * stream");
            await a.NextAsync("third event on the * stream");
            await b.NextAsync("the only event of the selective stream");
        }

        // A reconnection that resumes is counted by outcome.
        await using (var resumed = await SseClient.ConnectAsync(frontend.Http, "/api/cache-events?lastEventId=garbage"))
        {
            Assert.Equal("connected", (await resumed.NextAsync("connected, resuming")).EventType);
            Assert.Equal("reset", (await resumed.NextAsync("reset for an unreadable id")).EventType);
        }

        await frontend.Registry.UntilAsync(r => r.Count == 0, "waiting for both streams to close");
        Assert.Equal(3, totals.GetValueOrDefault("countcachula.hub.events.published"));
        Assert.Equal(3, totals.GetValueOrDefault("countcachula.events.received"));
        Assert.Equal(4, totals.GetValueOrDefault("countcachula.deliveries"));
        Assert.Equal(0, totals.GetValueOrDefault("countcachula.connections"));
        Assert.Equal(0, totals.GetValueOrDefault("countcachula.connections.coalesced"));
        Assert.Equal(1, totals.GetValueOrDefault("countcachula.replays"));
        Assert.Equal(4, totals.GetValueOrDefault("countcachula.publish_to_write.duration.count"));
    }

    [Fact]
    public async Task The_orleans_dashboard_is_mounted_under_orleans_in_development()
    {
        using var response = await frontend.Http.GetAsync("/orleans/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    public async Task Health_endpoints_report_healthy(string path)
    {
        using var response = await frontend.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Metrics_are_scraped_in_prometheus_format_and_openapi_describes_the_api()
    {
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using (client)
        {
            await frontend.Get<ICacheHub>().InvalidateAsync("scrape-me");
            await client.NextAsync("the event that the scrape should count");
        }

        using var metrics = await frontend.Http.GetAsync("/metrics");
        using var openApi = await frontend.Http.GetAsync("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("countcachula", await metrics.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, openApi.StatusCode);
        var description = await openApi.Content.ReadAsStringAsync();
        Assert.Contains("/api/cache/invalidate", description);
        Assert.Contains("/api/cache-events", description);
    }
}
