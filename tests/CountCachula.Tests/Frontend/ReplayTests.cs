using System.Text.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Frontend;

/// <summary>A hub with a short history (10 events kept, in segments of 5), so exhaustion is quick to reach.</summary>
public sealed class ShortHistoryFixture : FrontendFixture
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("CountCachula:Hub:HistoryMaxEvents", "10"),
        new("CountCachula:Hub:HistorySegmentSize", "5"),
    ];
}

/// <summary>Reconnecting browsers catch up on exactly what they missed, or are told to start over.</summary>
public sealed class ReplayTests(ShortHistoryFixture frontend) : IClassFixture<ShortHistoryFixture>
{
    private ICacheHub Hub => frontend.Get<ICacheHub>();

    [Fact]
    public async Task Reconnecting_with_last_event_id_replays_the_missed_matching_tags_once_then_continues_live()
    {
        var (first, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=doc:*");
        await using var watcher = (await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=doc:2")).Client;
        await Hub.InvalidateAsync("doc:0");
        var seen = await first.NextAsync("the last event before going away");
        await first.DisposeAsync();

        await Hub.InvalidateAsync("doc:1", "other");
        await Hub.InvalidateAsync("other");
        await Hub.InvalidateAsync("doc:2", "doc:1");

        // A publish is accepted before this server has routed it; once another stream here has it, so has the replay
        // (otherwise doc:2 would come live, after a replay of doc:1 alone).
        Assert.Equal("doc:2", (await watcher.NextAsync("doc:2 routed to this server")).Data);

        await using var again = await SseClient.ConnectAsync(frontend.Http, "/api/cache-events?tags=doc:*",
            configure: request => request.Headers.Add("Last-Event-ID", seen.EventId));
        Assert.Equal("connected", (await again.NextAsync("connected after reconnecting")).EventType);
        var replayed = await again.NextAsync("the replay");
        await Hub.InvalidateAsync("doc:3");
        var live = await again.NextAsync("the first live event after the replay");

        Assert.Equal(("invalidate", "doc:1,doc:2"), (replayed.EventType, replayed.Data));
        Assert.True(long.Parse(replayed.EventId!) > long.Parse(seen.EventId!));
        Assert.Equal(("invalidate", "doc:3"), (live.EventType, live.Data));
        Assert.True(long.Parse(live.EventId!) > long.Parse(replayed.EventId!));
    }

    [Fact]
    public async Task The_last_event_id_query_parameter_and_since_also_resume()
    {
        var (probe, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await Hub.InvalidateAsync("resume:0");
        var mark = await probe.NextAsync("the event to resume after");
        await probe.DisposeAsync();

        // resume:0 was stamped before the probe read it; 'since' below is 1 ms before 'before', so the clock must first
        // pass that margin, or a delivery faster than 1 ms puts resume:0 inside the window.
        var read = DateTime.UtcNow;
        SpinWait.SpinUntil(() => DateTime.UtcNow > read.AddMilliseconds(2));
        var before = DateTime.UtcNow;
        await Hub.InvalidateAsync("resume:1");

        await using var byQuery = await SseClient.ConnectAsync(frontend.Http, $"/api/cache-events?tags=resume:*&lastEventId={mark.EventId}");
        await using var bySince = await SseClient.ConnectAsync(frontend.Http, $"/api/cache-events?tags=resume:*&since={before.AddMilliseconds(-1):O}");

        Assert.Equal("connected", (await byQuery.NextAsync("connected, lastEventId")).EventType);
        Assert.Equal("resume:1", (await byQuery.NextAsync("replay by lastEventId")).Data);
        Assert.Equal("connected", (await bySince.NextAsync("connected, since")).EventType);
        Assert.Equal("resume:1", (await bySince.NextAsync("replay by since")).Data);
    }

    [Theory]
    [InlineData("not-a-number")]
    [InlineData("-5")]
    [InlineData("99999999999999999999999999")]
    [InlineData("1")]
    public async Task Ids_the_history_cannot_cover_get_reset_and_invalidate_everything(string lastEventId)
    {
        await Hub.InvalidateAsync("some-history");
        await using var client = await SseClient.ConnectAsync(frontend.Http, "/api/cache-events?format=json",
            configure: request => request.Headers.Add("Last-Event-ID", lastEventId));

        Assert.Equal("connected", (await client.NextAsync("connected")).EventType);
        var reset = await client.NextAsync("the reset event");
        var clear = await client.NextAsync("the invalidation of everything");
        Assert.Equal("reset", reset.EventType);
        Assert.Equal("invalidate", clear.EventType);
        Assert.Equal(["*"], JsonSerializer.Deserialize<string[]>(clear.Data)!);
        Assert.Equal(System.Net.HttpStatusCode.OK, client.Response.StatusCode);
    }

    [Fact]
    public async Task A_point_older_than_the_retained_history_gets_reset()
    {
        // A tenant of its own, streams with exact tags only: this server then does not hold the tenant's recent events
        // itself (it would replay from them whatever the hub's history still has), so the hub's history answers.
        var tenant = "trimmed-" + Guid.NewGuid().ToString("N")[..8];
        var hub = frontend.Get<IGrainFactory>().GetGrain<ICacheHubGrain>(tenant);
        var (probe, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, $"/api/cache-events?tenant={tenant}&tags=old:0");
        await hub.Invalidate(["old:0"]);
        var old = await probe.NextAsync("an event that will fall out of the history");
        for (var i = 1; i <= 25; i++)
        {
            await hub.Invalidate([$"old:{i}"]);
        }

        await probe.DisposeAsync();
        await using var client = await SseClient.ConnectAsync(frontend.Http, $"/api/cache-events?tenant={tenant}&tags=old:0",
            configure: request => request.Headers.Add("Last-Event-ID", old.EventId));

        Assert.Equal("connected", (await client.NextAsync("connected")).EventType);
        Assert.Equal("reset", (await client.NextAsync("reset after the history was trimmed")).EventType);
        Assert.Equal(("invalidate", "*"), ((await client.NextAsync("invalidate everything")) is var e ? (e.EventType, e.Data) : default));
    }

    [Fact]
    public async Task Resuming_from_0_replays_a_history_that_was_never_trimmed_and_resets_one_that_was()
    {
        // 0 is what 'connected' carries when its server knew no event of the tenant yet.
        var young = "young-" + Guid.NewGuid().ToString("N")[..8];
        var trimmed = "trimmed-" + Guid.NewGuid().ToString("N")[..8];
        var grains = frontend.Get<IGrainFactory>();
        await grains.GetGrain<ICacheHubGrain>(young).Invalidate(["a"]);
        await grains.GetGrain<ICacheHubGrain>(young).Invalidate(["b"]);
        for (var i = 0; i < 25; i++)
        {
            await grains.GetGrain<ICacheHubGrain>(trimmed).Invalidate([$"t:{i}"]);
        }

        await using var fromStart = await SseClient.ConnectAsync(frontend.Http, $"/api/cache-events?tenant={young}&tags=a,b",
            configure: request => request.Headers.Add("Last-Event-ID", "0"));
        await using var tooOld = await SseClient.ConnectAsync(frontend.Http, $"/api/cache-events?tenant={trimmed}&tags=t:0",
            configure: request => request.Headers.Add("Last-Event-ID", "0"));

        Assert.Equal("connected", (await fromStart.NextAsync("connected, young history")).EventType);
        Assert.Equal(("invalidate", "a,b"), ((await fromStart.NextAsync("the whole young history")) is var e ? (e.EventType, e.Data) : default));
        Assert.Equal("connected", (await tooOld.NextAsync("connected, trimmed history")).EventType);
        Assert.Equal("reset", (await tooOld.NextAsync("reset: the history lost its start")).EventType);
    }
}
