using System.Net;
using System.Net.Http.Json;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Crash;

/// <summary>
/// The outbox's promise against a real kill -9, in the cluster of <c>scripts/cluster.sh</c> (three silo processes,
/// grain state in a real redis-server): the frontend's sample order grain writes its state with its invalidation,
/// its silo dies by SIGKILL right after that write and before the publish (the crash-test hook
/// <c>CountCachula:Testing:CrashAfterOutboxWrite</c>), and the grain's next activation on a surviving silo publishes
/// it. A browser's stream on that survivor hears of it exactly once.
/// </summary>
public sealed class OutboxCrashTests
{
    private const string CrashPrefix = "crash-";

    [Fact]
    public async Task An_invalidation_written_before_a_kill_9_reaches_a_stream_once_after_reactivation()
    {
        await using var cluster = await ProcessCluster.StartAsync(3,
            $"--CountCachula:Samples:Enabled true --{SampleOrdersHook} {CrashPrefix}");
        // Not the silo of the tenant's hub: this test is about the grain's outbox, not the hub's own failover.
        var victim = await cluster.PickAsync(holdingTheHub: false);
        var survivor = Enumerable.Range(0, 3).First(i => i != victim);
        var order = CrashPrefix + Guid.NewGuid().ToString("N")[..8];
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var (stream, _) = await SseClient.ConnectAndWaitAsync(http,
            new Uri(cluster.Urls[survivor], $"/api/cache-events?tags=order:{order},sentinel:{order}&access_token={cluster.Token()}").ToString());
        await using var _ = stream;

        // The grain is placed on the silo whose web server takes the request (PreferLocalPlacement); the hook kills
        // that process once the state and its invalidation are stored in Redis, so the request dies with it.
        var ship = await Record.ExceptionAsync(() => http.PostAsync(new Uri(cluster.Urls[victim], $"/api/sample-orders/{order}/ship"), null));
        Assert.True(ship is HttpRequestException, $"The ship request should die with its silo; it ended with {ship?.GetType().Name ?? "a response"}. Log of silo {victim}:\n{cluster.Log(victim)}");
        Assert.True(await cluster.WaitExitedAsync(victim, Timeouts.Default), $"Silo {victim} still runs {Timeouts.Default} after the hook should have killed it.");

        // Nothing was published before the kill: events reach a stream in the hub's order, so an invalidation of the
        // order would come before this sentinel.
        await PublishAsync(http, cluster, survivor, $"sentinel:{order}");
        Assert.Equal($"sentinel:{order}", (await stream.NextOfTypeAsync("invalidate", "the sentinel after the kill")).Data);

        // Calling the grain again activates it on the survivor, which reads the state the dead silo stored in Redis
        // (the shipment is there) and publishes what it owes.
        var shipments = await ReactivateAsync(http, cluster.Urls[survivor], order);
        Assert.Equal(1, shipments);

        var told = await stream.NextOfTypeAsync("invalidate", "the invalidation repaired on reactivation");
        Assert.Equal($"order:{order}", told.Data);

        // Once: a second copy would come before this sentinel.
        await PublishAsync(http, cluster, survivor, $"sentinel:{order}");
        Assert.Equal($"sentinel:{order}", (await stream.NextOfTypeAsync("invalidate", "the sentinel after the repair")).Data);
    }

    private const string SampleOrdersHook = "CountCachula:Testing:CrashAfterOutboxWrite";

    /// <summary>
    /// Reads the order through <paramref name="silo"/> until it answers: until the cluster declared the killed silo
    /// dead (about 2 s with cluster.sh's probing), a call that the grain directory still routes there fails.
    /// </summary>
    private static async Task<int> ReactivateAsync(HttpClient http, Uri silo, string order)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var answers = new List<string>();
        while (true)
        {
            using var response = await http.GetAsync(new Uri(silo, $"/api/sample-orders/{order}"), cts.Token);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return (await response.Content.ReadFromJsonAsync<OrderStatus>(cts.Token))!.Shipments;
            }

            answers.Add($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cts.Token)}");
            Assert.False(cts.IsCancellationRequested, $"The order never answered after the kill:\n{string.Join('\n', answers)}");
            // The next try waits a little: each failed one already waited for the cluster to give up on the dead silo.
            await Task.Delay(TimeSpan.FromMilliseconds(250), cts.Token);
        }
    }

    /// <summary>
    /// Publishes as a publisher should: while the hub's grain is still placed on the killed silo (until the cluster
    /// declares it dead) the answer is 503 with Retry-After, and the same Idempotency-Key is sent again after it.
    /// </summary>
    private static async Task PublishAsync(HttpClient http, ProcessCluster cluster, int silo, string tag)
    {
        var key = Guid.NewGuid().ToString("N");
        for (var attempt = 1; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(cluster.Urls[silo], "/api/cache/invalidate"))
            {
                Content = JsonContent.Create(new { tags = new[] { tag } }),
            };
            request.Headers.Add("X-Api-Key", cluster.ApiKey);
            request.Headers.Add("Idempotency-Key", key);
            using var response = await http.SendAsync(request);
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable && attempt < 30, $"Publishing the sentinel (attempt {attempt}): {(int)response.StatusCode} {body}");
            Assert.NotNull(response.Headers.RetryAfter?.Delta);
            await Task.Delay(response.Headers.RetryAfter!.Delta!.Value);
        }
    }

    private sealed record OrderStatus(string Id, int Shipments);
}
