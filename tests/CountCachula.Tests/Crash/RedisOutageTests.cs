using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Streaming;
using Xunit.Abstractions;

namespace CountCachula.Tests.Crash;

/// <summary>
/// A frontend clustered through a real redis-server (membership, grain storage, stream pub-sub and reminders all in
/// Redis), through Redis outages of both kinds: paused with its data, and restarted empty. One silo in this process;
/// the process-cluster crash test covers several.
/// </summary>
public sealed class RedisOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private RedisServer _redis = null!;
    private TestFrontend _frontend = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _frontend = await TestFrontend.StartAsync("redis-" + Guid.NewGuid().ToString("N")[..8], settings:
        [
            new("Orleans:Membership", "Redis"),
            new("Orleans:Redis", _redis.ConnectionString),
            new("CountCachula:InboxCheckInterval", "00:00:00.500"),
            new("CountCachula:UnsubscribeGrace", "00:00:00.200"),
        ]);
    }

    public async Task DisposeAsync()
    {
        await _frontend.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Redis_paused_then_resumed_streams_stay_open_publishes_get_503_and_every_accepted_event_arrives()
    {
        var (tagged, _) = await SseClient.ConnectAndWaitAsync(_frontend.Http, "/api/cache-events?tags=paused:1");
        var (all, _) = await SseClient.ConnectAndWaitAsync(_frontend.Http);
        await using var taggedStream = tagged;
        await using var allStream = all;
        var accepted = new List<string> { await AcceptedAsync("paused:1", "before") };

        // Stopped for 10 s with a publisher at work: each publish waits on the storage, then is answered.
        _redis.Pause();
        var keys = new List<string>();
        var paused = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (paused.Elapsed < TimeSpan.FromSeconds(10))
            {
                var key = $"during-{keys.Count}";
                keys.Add(key);
                using var during = await PublishAsync("paused:1", key);
                output.WriteLine($"publish {key} while Redis is paused ({paused.Elapsed.TotalSeconds:0.0} s): {(int)during.StatusCode}");
                if (during.StatusCode == HttpStatusCode.Accepted)
                {
                    accepted.Add(await IdOf(during));
                }
                else
                {
                    await AssertUnavailableAsync(during);
                }
            }
        }
        finally
        {
            _redis.Resume();
        }

        // The publisher retries with the same keys: each event delivered once, whatever the first attempt did.
        foreach (var key in keys)
        {
            accepted.Add(await RetryUntilAcceptedAsync("paused:1", key));
        }

        accepted.Add(await AcceptedAsync("paused:1", "after"));
        await AssertReceivedAsync(taggedStream, accepted.Distinct().ToList(), "the tagged stream");
        await AssertReceivedAsync(allStream, accepted.Distinct().ToList(), "the * stream");
    }

    [Fact]
    public async Task Redis_restarted_empty_streams_stay_open_and_get_every_accepted_event_or_a_reset_and_new_streams_work()
    {
        var (tagged, _) = await SseClient.ConnectAndWaitAsync(_frontend.Http, "/api/cache-events?tags=empty:1");
        await using var taggedStream = tagged;
        var accepted = new List<string> { await AcceptedAsync("empty:1", "before") };

        await _redis.RestartEmptyAsync();

        // Publishing recovers by itself: at worst a few 503s (each with Retry-After) while the hub finds its storage gone.
        for (var i = 0; i < 5; i++)
        {
            accepted.Add(await RetryUntilAcceptedAsync("empty:1", $"after-{i}"));
        }

        // Every accepted event reaches the open stream, unless it was told to start over.
        var (ids, reset) = await ReadAsync(taggedStream, accepted, "the open stream after Redis came back empty");
        output.WriteLine($"open stream: {accepted.Count(ids.Contains)} of {accepted.Count} accepted events, reset: {reset}");
        Assert.True(reset || accepted.All(ids.Contains), $"missing {string.Join(",", accepted.Where(a => !ids.Contains(a)))} without a reset");

        // The frontend re-established its inbox subscription in the new (empty) Redis, and reports ready.
        var subscriptions = _frontend.Get<TopicSubscriptions>();
        using (var ready = await _frontend.Http.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        var (fresh, _) = await SseClient.ConnectAndWaitAsync(_frontend.Http, "/api/cache-events?tags=empty:2");
        await using var freshStream = fresh;
        var last = await RetryUntilAcceptedAsync("empty:2", "fresh");
        // A reset may still reach it (the recovery tells every local stream); the event itself must come regardless.
        var (freshIds, _) = await ReadAsync(freshStream, [last], "a new stream after Redis came back empty", stopAtReset: false);
        Assert.Contains(last, freshIds);
        var again = await RetryUntilAcceptedAsync("empty:1", "final");
        var (finalIds, _) = await ReadAsync(taggedStream, [again], "the open stream, a later event", stopAtReset: false);
        Assert.Contains(again, finalIds);
        Assert.True(subscriptions.IsSubscribedToInbox("default"));
    }

    [Fact]
    public async Task A_stream_that_cannot_subscribe_while_Redis_is_paused_gets_200_a_short_retry_and_ends()
    {
        // No stream of the tenant is open here, so a new one must subscribe (a pub-sub write, to Redis).
        var subscriptions = _frontend.Get<TopicSubscriptions>();
        _redis.Pause();
        try
        {
            await using var stream = await SseClient.ConnectAsync(_frontend.Http, "/api/cache-events?tags=nobody-yet");

            Assert.Equal(HttpStatusCode.OK, stream.Response.StatusCode);
            Assert.Equal("text/event-stream", stream.Response.Content.Headers.ContentType?.MediaType);
            await stream.Completion.WaitAsync(Timeouts.Default);
            // A frame with only 'retry:' dispatches no event, so the parser does not report it; read the bytes.
            var retry = stream.RawText.Split('\n').Single(line => line.StartsWith("retry: ", StringComparison.Ordinal));
            Assert.InRange(int.Parse(retry["retry: ".Length..]), 1, 1000);
            Assert.DoesNotContain("event: connected", stream.RawText);
        }
        finally
        {
            _redis.Resume();
        }

        Assert.False(subscriptions.IsSubscribedToInbox("default") && subscriptions.RegisteredTags("default").Contains("nobody-yet"));
        var (later, _) = await SseClient.ConnectAndWaitAsync(_frontend.Http, "/api/cache-events?tags=nobody-yet");
        await later.DisposeAsync();
    }

    private async Task<HttpResponseMessage> PublishAsync(string tag, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/cache/invalidate") { Content = JsonContent.Create(new { tags = new[] { tag } }) };
        request.Headers.Add("Idempotency-Key", key + "-" + tag);
        return await _frontend.Http.SendAsync(request);
    }

    private async Task<string> AcceptedAsync(string tag, string key)
    {
        using var response = await PublishAsync(tag, key);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return await IdOf(response);
    }

    /// <summary>A publisher's retry loop: on 503 it waits the Retry-After it was given and sends the same key again.</summary>
    private async Task<string> RetryUntilAcceptedAsync(string tag, string key)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var response = await PublishAsync(tag, key);
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                return await IdOf(response);
            }

            await AssertUnavailableAsync(response);
            Assert.True(attempt < 30, $"publishing '{key}' was refused {attempt} times");
            await Task.Delay(response.Headers.RetryAfter!.Delta!.Value);
        }
    }

    private static async Task AssertUnavailableAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("temporarily unavailable", await response.Content.ReadAsStringAsync());
    }

    private static async Task<string> IdOf(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("id").GetString()!;
    }

    private static async Task AssertReceivedAsync(SseClient stream, IReadOnlyList<string> ids, string phase)
    {
        var (received, reset) = await ReadAsync(stream, ids, phase);
        Assert.False(reset, $"{phase}: reset although Redis kept its data");
        Assert.All(ids, id => Assert.Contains(id, received));
    }

    /// <summary>Reads invalidations until every one of <paramref name="ids"/> came, or a reset says to start over.</summary>
    private static async Task<(HashSet<string> Ids, bool Reset)> ReadAsync(SseClient stream, IReadOnlyCollection<string> ids, string phase, bool stopAtReset = true)
    {
        var received = new HashSet<string>(StringComparer.Ordinal);
        var reset = false;
        while (!ids.All(received.Contains))
        {
            var next = await stream.NextAsync($"{phase}: waiting for events {string.Join(",", ids.Where(i => !received.Contains(i)))}");
            reset |= next.EventType == "reset";
            if (next.EventType == "invalidate" && next.EventId is { } id)
            {
                received.Add(id);
            }

            if (stopAtReset && reset && next.EventType == "invalidate" && next.Data == "*")
            {
                return (received, true);
            }
        }

        return (received, reset);
    }
}
