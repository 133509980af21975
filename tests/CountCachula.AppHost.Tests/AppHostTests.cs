using System.Diagnostics;
using System.Net.ServerSentEvents;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace CountCachula.AppHost.Tests;

/// <summary>
/// The Aspire AppHost (samples/AppHost) started whole: Redis, three silos, the client-only web tier and the publisher,
/// each a real process that Aspire's orchestrator (DCP) starts and stops.
/// </summary>
public sealed class AppHostTests(ITestOutputHelper output)
{
    /// <summary>
    /// A bound, not a pause: the run takes about 70 s on a 2-core box that is also building (five `dotnet run`
    /// starts), and this leaves room for a box busier than that.
    /// </summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(180);

    private static readonly string[] Resources = ["redis", "silo-1", "silo-2", "silo-3", "web", "publisher"];

    [Fact]
    public async Task An_invalidation_from_the_publisher_reaches_a_stream_on_the_web_tier()
    {
        using var limit = new CancellationTokenSource(Limit);
        var ct = limit.Token;

        // Without a container engine (CI, this repository's test machines) Redis runs as a local redis-server: ask for
        // it outright when one is on the PATH rather than depend on the AppHost's detection.
        string[] args = OnPath("redis-server") ? ["CountCachula:AppHost:Redis=Executable"] : [];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(args, ct);

        // The resources' own logs reach the test log; the AppHost's health probes of processes still starting would add
        // a stack trace per probe.
        builder.Services.AddLogging(logging => logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.Critical));
        var pids = new Dictionary<string, int>();
        var stopping = new Stopwatch();
        await using (var app = await builder.BuildAsync(ct))
        {
            var clock = Stopwatch.StartNew();
            await app.StartAsync(ct);
            await app.ResourceNotifications.WaitForResourceHealthyAsync("web", ct);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: Redis, three silos and the web tier started and healthy");

            using var http = app.CreateHttpClient("web");
            http.Timeout = Timeout.InfiniteTimeSpan;
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events?tags=orders-list");
            request.Headers.Accept.ParseAdd("text/event-stream");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            response.EnsureSuccessStatusCode();
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            await using var events = SseParser.Create(body).EnumerateAsync(ct).GetAsyncEnumerator(ct);

            // Subscribed (the stream says so) before the publisher starts, so none of its invalidations can be missed.
            Assert.Equal("connected", (await NextAsync(events, ct)).EventType);

            // Each start of the publisher (its Start button in the dashboard) is one invalidation.
            for (var run = 1; run <= 2; run++)
            {
                var published = clock.Elapsed;
                var start = await app.ResourceCommands.ExecuteCommandAsync("publisher", KnownResourceCommands.StartCommand, ct);
                Assert.True(start.Success, $"starting the publisher (run {run}): {start.Message}");

                // A publisher that could not run says so at once, instead of the stream waiting out the test's limit.
                var failed = app.ResourceNotifications.WaitForResourceAsync(
                    "publisher",
                    e => e.Snapshot.State?.Text == KnownResourceStates.FailedToStart
                        || (e.Snapshot.State?.Text == KnownResourceStates.Finished && e.Snapshot.ExitCode is not 0),
                    ct);
                var invalidation = NextInvalidationAsync(events, ct);
                if (await Task.WhenAny(invalidation, failed) == failed)
                {
                    var state = (await failed).Snapshot;
                    Assert.Fail($"the publisher (run {run}) ended as {state.State?.Text} with exit code {state.ExitCode} before its invalidation arrived; its log is above");
                }

                var item = await invalidation;

                Assert.Contains("orders-list", item.Data);
                output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: run {run} of the publisher: its invalidation arrived on the web tier's stream {(clock.Elapsed - published).TotalSeconds:F1} s after its start");
                var finished = await app.ResourceNotifications.WaitForResourceAsync(
                    "publisher", e => e.Snapshot.State?.Text == KnownResourceStates.Finished, ct);
                Assert.Equal(0, finished.Snapshot.ExitCode);
            }

            foreach (var name in Resources)
            {
                if (app.ResourceNotifications.TryGetCurrentState(name, out var state)
                    && state.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value is { } pid)
                {
                    pids[name] = Convert.ToInt32(pid);
                }
            }

            stopping.Start();
        }

        output.WriteLine($"the AppHost stopped in {stopping.Elapsed.TotalSeconds:F1} s");

        // Disposing the app stopped every process it started: redis-server and the silos among them.
        Assert.Contains("redis", pids.Keys);
        Assert.Contains("silo-1", pids.Keys);
        foreach (var (name, pid) in pids)
        {
            using var process = TryGetProcess(pid);
            try
            {
                await (process?.WaitForExitAsync(ct) ?? Task.CompletedTask).WaitAsync(TimeSpan.FromSeconds(20), ct);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"{name} (pid {pid}) still runs 20 s after the AppHost stopped.");
            }
        }
    }

    private static async Task<SseItem<string>> NextInvalidationAsync(IAsyncEnumerator<SseItem<string>> events, CancellationToken ct)
    {
        SseItem<string> item;
        do
        {
            item = await NextAsync(events, ct);
        }
        while (item.EventType != "invalidate");

        return item;
    }

    private static async Task<SseItem<string>> NextAsync(IAsyncEnumerator<SseItem<string>> events, CancellationToken ct)
    {
        while (await events.MoveNextAsync())
        {
            if (events.Current.EventType != "heartbeat")
            {
                return events.Current;
            }
        }

        ct.ThrowIfCancellationRequested();
        throw new InvalidOperationException("The web tier ended the stream.");
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, program)));

    private static Process? TryGetProcess(int pid)
    {
        try
        {
            return Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
