using System.Net;
using System.Net.Http.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.Tests.Product;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CountCachula.Tests.Lifecycle;

/// <summary>
/// SIGTERM, as a deploy sends it, to the frontend process in each state it can be in: every open stream is ended with a
/// reconnect hint (a browser then comes back to another server), the process exits with 0, and nothing it logs from
/// the stop on is a warning or an error. The host's shutdown timeout is 5 s, so a stop that waited on anything (an
/// open stream, a grain, a reminder) would be cut there, and that cut is what logs the warnings this test refuses.
/// </summary>
public sealed class GracefulStopTests
{
    private const string SigningKey = "graceful-stop-test-signing-key-0123456789abcdef";
    private const string ApiKey = "graceful-stop-test-api-key";

    public enum State
    {
        /// <summary>The quick start with a tab open: one stream, nothing published yet.</summary>
        OneStreamNothingPublished,

        /// <summary>300 streams receiving while a publisher keeps publishing through the stop.</summary>
        BusyStreams,

        /// <summary>A tenant with a scheduled invalidation: a reminder is registered with the silo's reminder service.</summary>
        RemindersRegistered,

        /// <summary>No stream at all.</summary>
        NoStreams,
    }

    [Theory]
    [InlineData(State.OneStreamNothingPublished)]
    [InlineData(State.BusyStreams)]
    [InlineData(State.RemindersRegistered)]
    [InlineData(State.NoStreams)]
    public async Task A_stop_ends_every_stream_with_a_reconnect_hint_and_logs_no_warning(State state)
    {
        var gateway = FreePorts.Next();
        var clusterId = "stop-" + Guid.NewGuid().ToString("N")[..8];
        await using var app = AppProcess.StartExecutable(
            [
                "--environment", "Production",
                "--urls", "http://127.0.0.1:0",
                "--Orleans:SiloPort", FreePorts.Next().ToString(),
                "--Orleans:GatewayPort", gateway.ToString(),
                "--Orleans:ClusterId", clusterId,
                "--shutdownTimeoutSeconds", "5",
            ],
            new Dictionary<string, string>
            {
                ["CountCachula__Auth__SigningKey"] = SigningKey,
                ["CountCachula__Auth__ApiKeys__0__Key"] = ApiKey,
                ["CountCachula__Auth__ApiKeys__0__Tenant"] = "default",

                // 300 streams share the test's one token, as no real user's would.
                ["CountCachula__MaxConnectionsPerCredential"] = "0",
            });
        var address = await app.ListeningAsync();
        using var http = new HttpClient { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan };
        var token = CountCachula.AspNetCore.Security.CountCachulaAccess.MintToken(SigningKey, "default", TimeSpan.FromHours(1), tags: ["*"]);

        if (state == State.RemindersRegistered)
        {
            await ScheduleAsync(gateway, clusterId);
        }

        var count = state switch { State.BusyStreams => 300, State.NoStreams => 0, _ => 1 };
        var streams = new List<SseClient>();
        for (var i = 0; i < count; i++)
        {
            var (client, _) = await SseClient.ConnectAndWaitAsync(http, $"/api/cache-events?access_token={token}");
            streams.Add(client);
        }

        using var publishing = new CancellationTokenSource();
        var publisher = state == State.BusyStreams ? PublishUntilStoppedAsync(http, publishing.Token) : Task.CompletedTask;
        if (state == State.BusyStreams)
        {
            // Publishing and delivering when the stop arrives: wait for a delivery on the first stream.
            await streams[0].NextOfTypeAsync("invalidate", "waiting for the first delivery before stopping");
        }

        var beforeStop = app.Stdout.Length;
        app.Terminate();
        Assert.Equal(0, await app.ExitAsync(TimeSpan.FromSeconds(30)));
        await publishing.CancelAsync();
        await publisher;

        foreach (var stream in streams)
        {
            Assert.True(await stream.Ended.WaitAsync(Timeouts.Default), $"A stream's connection broke instead of its body ending:\n{stream.RawText[^Math.Min(300, stream.RawText.Length)..]}");
            Assert.Contains(": this server is stopping; reconnect\nretry: ", stream.RawText);
            await stream.DisposeAsync();
        }

        var stop = app.Stdout[beforeStop..];
        var lines = stop.Split('\n');
        var noisy = lines
            .Select((line, i) => (Header: line, Message: i + 1 < lines.Length ? lines[i + 1] : ""))
            .Where(e => e.Header.StartsWith("warn:", StringComparison.Ordinal) || e.Header.StartsWith("fail:", StringComparison.Ordinal) || e.Header.StartsWith("crit:", StringComparison.Ordinal))
            .ToArray();
        Assert.True(noisy.Length == 0, $"Warnings or errors while stopping ({state}):\n{stop}");
        Assert.Contains("Stopping: every stream has ended", stop);
        Assert.Equal("", app.Stderr);
    }

    /// <summary>Registers a scheduled invalidation (an Orleans reminder) through the silo's gateway, as a backend would.</summary>
    private static async Task ScheduleAsync(int gateway, string clusterId)
    {
        using var host = Host.CreateDefaultBuilder()
            .UseOrleansClient(client => client.UseLocalhostClustering(gateway, "countcachula", clusterId))
            .Build();
        await host.StartAsync();
        await host.Services.GetRequiredService<IClusterClient>().GetGrain<IScheduleGrain>("default")
            .ScheduleInvalidation("nightly", ["reports"], TimeSpan.FromHours(1));
        await host.StopAsync();
    }

    /// <summary>Publishes an invalidation every 10 ms until cancelled; a refusal once the server stops is expected.</summary>
    private static async Task PublishUntilStoppedAsync(HttpClient http, CancellationToken cancellationToken)
    {
        using var rate = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        for (var n = 0; !cancellationToken.IsCancellationRequested; n++)
        {
            try
            {
                await rate.WaitForNextTickAsync(cancellationToken);
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/cache/invalidate") { Content = JsonContent.Create(new { tags = new[] { $"item:{n}" } }) };
                request.Headers.Add("X-Api-Key", ApiKey);
                using var response = await http.SendAsync(request, cancellationToken);
                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    return;
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException)
            {
                return;
            }
        }
    }
}
