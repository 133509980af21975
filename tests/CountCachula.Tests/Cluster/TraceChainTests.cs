using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using CountCachula.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using CountCachula.WebFrontend.Hosting;
using OpenTelemetry.Trace;
using Orleans.Runtime;

namespace CountCachula.Tests.Cluster;

/// <summary>
/// A publish followed to the connections it reached, across two real silos: the caller's trace, the hub's publish
/// span, and one dispatch span per silo with its connection count; and the spans pushed over OTLP.
/// </summary>
public sealed class TraceChainTests
{
    [Fact]
    public async Task A_publish_span_is_the_parent_of_each_silos_dispatch_span_and_all_are_pushed_over_otlp()
    {
        await using var collector = await OtlpCollector.StartAsync();
        KeyValuePair<string, string>[] settings =
        [
            new("CountCachula:Telemetry:OtlpEndpoint", collector.Address),
            new("CountCachula:Telemetry:OtlpProtocol", "http/protobuf"),
        ];
        var clusterId = "traces-" + Guid.NewGuid().ToString("N")[..8];
        var a = await TestFrontend.StartAsync(clusterId, settings: settings);
        var b = await TestFrontend.StartAsync(clusterId, a.SiloPort, settings);
        try
        {
            await ThreeSiloFixture.WaitForMembersAsync(a, 2);
            await ThreeSiloFixture.WaitForMembersAsync(b, 2);

            // Spans of this test only: its caller's trace id is unique, and several silos (and other tests' silos)
            // share the process and the static activity sources.
            var callerTrace = ActivityTraceId.CreateRandom();
            using var spans = new SpanCapture(callerTrace);
            await using var onA = (await SseClient.ConnectAndWaitAsync(a.Http, "/api/cache-events?tags=traced:1")).Client;
            await using var onB = (await SseClient.ConnectAndWaitAsync(b.Http, "/api/cache-events?tags=traced:1")).Client;

            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/cache/invalidate")
            {
                Content = JsonContent.Create(new { tags = new[] { "traced:1" } }),
            };
            request.Headers.Add("traceparent", $"00-{callerTrace}-{ActivitySpanId.CreateRandom()}-01");
            using var response = await a.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            var eventId = long.Parse((await response.Content.ReadFromJsonAsync<PublishedBody>())!.Id!);
            Assert.Equal(eventId.ToString(), (await onA.NextOfTypeAsync("invalidate", "the event on silo A")).EventId);
            Assert.Equal(eventId.ToString(), (await onB.NextOfTypeAsync("invalidate", "the event on silo B")).EventId);

            var publish = Assert.Single(await spans.WaitForAsync(CacheTracing.PublishSpan, 1, "the publish span"));
            Assert.Equal(ActivityKind.Producer, publish.Kind);
            Assert.Equal("default", publish.GetTagItem(CacheTracing.TenantTag));
            Assert.Equal("invalidate", publish.GetTagItem(CacheTracing.KindTag));
            Assert.Equal(1, publish.GetTagItem(CacheTracing.TagCountTag));
            Assert.Equal(eventId, publish.GetTagItem(CacheTracing.EventIdTag));

            // One dispatch span per silo, each a child of the publish span, each with the one connection it wrote to.
            var dispatches = await spans.WaitForAsync(CacheTracing.DispatchSpan, 2, "a dispatch span on each silo");
            Assert.All(dispatches, dispatch =>
            {
                Assert.Equal(publish.TraceId, dispatch.TraceId);
                Assert.Equal(publish.SpanId, dispatch.ParentSpanId);
                Assert.Equal(ActivityKind.Consumer, dispatch.Kind);
                Assert.Equal(eventId, dispatch.GetTagItem(CacheTracing.EventIdTag));
                Assert.Equal(1, dispatch.GetTagItem(CacheTracing.ConnectionsTag));
            });
            string[] silos = [ListenerOf(a), ListenerOf(b)];
            Assert.Equal(silos.Order(), dispatches.Select(d => (string)d.GetTagItem(CacheTracing.ListenerTag)!).Order());
        }
        finally
        {
            // Stopping flushes the batched spans to the collector.
            await b.DisposeAsync();
            await a.DisposeAsync();
        }

        var traces = await collector.WaitForAsync(body => body.Contains(CacheTracing.DispatchSpan, StringComparison.Ordinal), "dispatch spans pushed to /v1/traces");
        Assert.Contains(CacheTracing.PublishSpan, traces);
    }

    [Theory]
    [InlineData(null, null, false)]
    [InlineData("http://127.0.0.1:4318", null, true)]
    [InlineData("http://127.0.0.1:4318", "false", false)]
    [InlineData(null, "true", true)]
    public void Tracing_is_on_when_asked_for_or_when_an_otlp_endpoint_is_set(string? endpoint, string? tracing, bool expected)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(
        [
            new("CountCachula:Telemetry:OtlpEndpoint", endpoint),
            new("CountCachula:Telemetry:Tracing", tracing),
            new("OTEL_EXPORTER_OTLP_ENDPOINT", null),
        ]);

        builder.AddCountCachulaTelemetry();

        Assert.Equal(expected, builder.Services.Any(service => service.ServiceType == typeof(TracerProvider)));
    }

    private static string ListenerOf(TestFrontend frontend) => CacheListeners.ForSilo(frontend.Get<ILocalSiloDetails>().SiloAddress);

    private sealed record PublishedBody(string? Id, bool Repeated);

    /// <summary>Count Cachula's spans of one trace, as they stop; waited on, never polled.</summary>
    private sealed class SpanCapture : IDisposable
    {
        private readonly ActivityListener _listener;
        private readonly ConcurrentQueue<Activity> _stopped = new();
        private readonly ActivityTraceId _trace;
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public SpanCapture(ActivityTraceId trace)
        {
            _trace = trace;
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == CacheTracing.SourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = activity =>
                {
                    if (activity.TraceId == _trace)
                    {
                        _stopped.Enqueue(activity);
                        Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                    }
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public async Task<Activity[]> WaitForAsync(string name, int count, string phase)
        {
            using var cts = new CancellationTokenSource(Timeouts.Default);
            while (true)
            {
                var changed = _changed.Task;
                var found = _stopped.Where(a => a.OperationName == name).ToArray();
                if (found.Length >= count)
                {
                    return found;
                }

                try
                {
                    await changed.WaitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException($"{phase}: {found.Length} of {count} '{name}' spans within {Timeouts.Default}; seen: {string.Join(", ", _stopped.Select(a => a.OperationName))}.");
                }
            }
        }

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>An OTLP/HTTP receiver on 127.0.0.1 that keeps the bodies posted to <c>/v1/traces</c>.</summary>
    private sealed class OtlpCollector : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<string> _traces = new();
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private OtlpCollector(WebApplication app) => _app = app;

        public string Address => _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();

        public static async Task<OtlpCollector> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var collector = new OtlpCollector(builder.Build());
            collector._app.MapPost("/{**path}", async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                if (context.Request.Path == "/v1/traces")
                {
                    // Span names and attribute keys are plain UTF-8 inside the protobuf.
                    collector._traces.Enqueue(Encoding.UTF8.GetString(body.ToArray()));
                    Interlocked.Exchange(ref collector._changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                }

                return Results.Ok();
            });
            await collector._app.StartAsync();
            return collector;
        }

        public async Task<string> WaitForAsync(Func<string, bool> match, string phase)
        {
            using var cts = new CancellationTokenSource(Timeouts.Default);
            while (true)
            {
                var changed = _changed.Task;
                if (_traces.FirstOrDefault(match) is { } body)
                {
                    return body;
                }

                try
                {
                    await changed.WaitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException($"{phase}: not within {Timeouts.Default} ({_traces.Count} trace exports received).");
                }
            }
        }

        public ValueTask DisposeAsync() => _app.DisposeAsync();
    }
}
