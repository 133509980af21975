using System.Diagnostics.Metrics;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace CountCachula.Tests.Product;

/// <summary>What an operator's first scrape of an idle silo shows, and the switchable OTLP push.</summary>
public sealed class MetricsAtStartTests
{
    [Fact]
    public async Task An_idle_silo_scrapes_every_countcachula_counter_and_the_platform_meters()
    {
        await using var frontend = await TestFrontend.StartAsync("metrics-" + Guid.NewGuid().ToString("N")[..8]);

        var scrape = await frontend.Http.GetStringAsync("/metrics");

        // Every instrument on this app's countcachula meter, except the latency histogram: it has no honest zero and
        // appears with the first write (docs/observability.md).
        var expected = InstrumentsOf(frontend).Where(i => i is not Histogram<double>).Select(i => i.Name).ToArray();
        Assert.NotEmpty(expected);
        var missing = expected.Where(name => !scrape.Contains("\n" + name.Replace('.', '_'), StringComparison.Ordinal)).ToArray();
        Assert.True(missing.Length == 0, $"Not on /metrics at start: {string.Join(", ", missing)}");
        // The series exists from start. Its value is this process's: OpenTelemetry listens to every "countcachula"
        // meter of the process by name, and other tests' in-process frontends may hold connections right now.
        Assert.Contains("\ncountcachula_connections{otel_scope_name=\"countcachula\",tenant=\"default\"} ", scrape);

        Assert.Contains("\nkestrel_active_connections", scrape);
        Assert.Contains("\nhttp_server_active_requests", scrape);
        Assert.Contains("\ndotnet_gc_collections_total", scrape);
        Assert.Contains("\norleans_", scrape);

        var silo = frontend.Get<ILocalSiloDetails>().SiloAddress.ToParsableString();
        var target = scrape.Split('\n').Single(l => l.StartsWith("target_info{", StringComparison.Ordinal));
        Assert.Contains("service_name=\"countcachula\"", target);
        Assert.Contains($"service_instance_id=\"{silo}\"", target);
    }

    [Fact]
    public async Task With_an_otlp_endpoint_metrics_are_pushed_there()
    {
        var received = new TaskCompletionSource<(string Path, byte[] Body)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var collectorBuilder = WebApplication.CreateSlimBuilder();
        collectorBuilder.Logging.ClearProviders();
        collectorBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var collector = collectorBuilder.Build();
        collector.MapPost("/{**path}", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);

            // With an OTLP endpoint, traces are pushed there too (to /v1/traces); this test is about the metrics.
            if (context.Request.Path == "/v1/metrics")
            {
                received.TrySetResult((context.Request.Path, body.ToArray()));
            }

            return Results.Ok();
        });
        await collector.StartAsync();
        var collectorAddress = collector.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();

        var frontend = await TestFrontend.StartAsync("otlp-" + Guid.NewGuid().ToString("N")[..8], settings:
        [
            new("CountCachula:Telemetry:OtlpEndpoint", collectorAddress),
            new("CountCachula:Telemetry:OtlpProtocol", "http/protobuf"),
        ]);

        // The periodic push is a minute apart; stopping flushes what was collected, which is the wait here.
        await frontend.DisposeAsync();
        var (path, body) = await received.Task.WaitAsync(Timeouts.Default);

        Assert.Equal("/v1/metrics", path);
        var text = System.Text.Encoding.UTF8.GetString(body);
        Assert.Contains("countcachula.connections", text);
    }

    private static List<Instrument> InstrumentsOf(TestFrontend frontend)
    {
        var factory = frontend.Get<IMeterFactory>();
        var instruments = new List<Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == CountCachulaMetrics.MeterName)
                {
                    lock (instruments)
                    {
                        instruments.Add(instrument);
                    }
                }
            },
        };
        listener.Start();
        return instruments;
    }
}
