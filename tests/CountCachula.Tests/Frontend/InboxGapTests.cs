using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Streaming;
using CountCachula.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Streams.Filtering;

namespace CountCachula.Tests.Frontend;

/// <summary>
/// A frontend whose inbox loses every event that invalidates a <c>lost:</c> tag on the way, as a stream queue that
/// died with its silo would: the event is recorded and routed, and never delivered here.
/// </summary>
public sealed class LossyInboxFixture : FrontendFixture
{
    protected override void Configure(WebApplicationBuilder builder) =>
        builder.Services.AddKeyedSingleton<IStreamFilter, LoseTaggedEvents>(CacheTopics.StreamProvider);

    private sealed class LoseTaggedEvents : IStreamFilter
    {
        public bool ShouldDeliver(StreamId streamId, object item, string? filterData) =>
            item is not CacheEvent cacheEvent || !cacheEvent.Items.Any(tag => tag.StartsWith("lost:", StringComparison.Ordinal));
    }
}

/// <summary>
/// A web server notices an event that was routed to it and never arrived, as soon as the next one arrives (it names
/// the lost one as its predecessor), and repairs the gap from the history before it goes on: nothing is lost and the
/// ids a browser sees only rise.
/// </summary>
public sealed class InboxGapTests(LossyInboxFixture frontend) : IClassFixture<LossyInboxFixture>
{
    private ICacheHub Hub => frontend.Get<ICacheHub>();

    [Fact]
    public async Task An_event_lost_on_the_way_is_delivered_before_the_next_one_in_order()
    {
        var metrics = frontend.Get<CountCachulaMetrics>();
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=gap:*,lost:*");
        await using var _ = client;
        await Hub.InvalidateAsync("gap:1");
        var first = await client.NextAsync("the event before the loss");
        var gapsBefore = metrics.Gaps;

        // Recorded and routed, lost on the way to this server's inbox; the next event names it as its predecessor.
        await Hub.InvalidateAsync("lost:2");
        await Hub.InvalidateAsync("gap:3");
        var repaired = await client.NextAsync("the lost event, read from the history");
        var next = await client.NextAsync("the event after the loss");

        Assert.Equal(("gap:1", "lost:2", "gap:3"), (first.Data, repaired.Data, next.Data));
        Assert.True(long.Parse(first.EventId!) < long.Parse(repaired.EventId!) && long.Parse(repaired.EventId!) < long.Parse(next.EventId!),
            $"Ids must rise: {first.EventId}, {repaired.EventId}, {next.EventId}.");
        Assert.Equal(gapsBefore + 1, metrics.Gaps);
    }

    [Fact]
    public async Task Several_lost_events_in_a_row_are_repaired_in_order_and_each_reaches_only_its_subscribers()
    {
        var (all, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=row:*,lost:*");
        var (some, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=row:*,lost:b");
        await using var a = all;
        await using var s = some;
        await Hub.InvalidateAsync("lost:a");
        await Hub.InvalidateAsync("lost:b");
        await Hub.InvalidateAsync("lost:c");
        await Hub.InvalidateAsync("row:after");

        string[] expectedAll = ["lost:a", "lost:b", "lost:c", "row:after"];
        var received = new List<(string Data, long Id)>();
        foreach (var _ in expectedAll)
        {
            var item = await all.NextAsync($"event {received.Count + 1} of {expectedAll.Length} on the stream of everything");
            received.Add((item.Data, long.Parse(item.EventId!)));
        }

        Assert.Equal(expectedAll, received.Select(r => r.Data));
        Assert.Equal(received.Select(r => r.Id).Order(), received.Select(r => r.Id));
        Assert.Equal("lost:b", (await some.NextAsync("the one lost event this stream wants")).Data);
        Assert.Equal("row:after", (await some.NextAsync("the event after the loss")).Data);
    }

    [Fact]
    public async Task A_stream_opened_after_an_event_does_not_receive_it_when_a_recovery_finds_it()
    {
        var subscriptions = frontend.Get<TopicSubscriptions>();
        var (before, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=tail:*,lost:*");
        await using var b = before;
        await Hub.InvalidateAsync("tail:1");
        Assert.Equal("tail:1", (await before.NextAsync("an event both streams could see")).Data);

        // The last event is lost and nothing follows it: only a recovery (after a silo died, here forced) finds it.
        await Hub.InvalidateAsync("lost:tail");

        // Opened well after the lost event was published (the margin that allows for clocks that disagree).
        var opened = DateTime.UtcNow + AspNetCore.Delivery.SseConnection.OpenedMargin;
        SpinWait.SpinUntil(() => DateTime.UtcNow > opened);
        var (after, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=tail:*,lost:*");
        await using var a = after;

        await subscriptions.RecoverAllAsync("a test forces a recovery");
        Assert.Equal("lost:tail", (await before.NextAsync("the recovered event, on the stream that was open")).Data);

        // The stream opened afterwards gets the next event and nothing from before.
        await Hub.InvalidateAsync("tail:2");
        Assert.Equal("tail:2", (await after.NextAsync("the first event after opening")).Data);
        Assert.Equal("tail:2", (await before.NextAsync("the next event on the older stream")).Data);
    }

    [Fact]
    public async Task A_stream_that_resumes_from_before_a_lost_event_receives_it_when_a_recovery_finds_it()
    {
        var subscriptions = frontend.Get<TopicSubscriptions>();

        // Another page stays open, so this server keeps listening to the tenant (and holding its recent events).
        var (keeper, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=keeper:*");
        await using var k = keeper;
        var (first, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=resume:*,lost:*");
        await Hub.InvalidateAsync("resume:1");
        var seen = await first.NextAsync("the last event the page saw");
        await first.DisposeAsync();

        // Lost on the way, nothing after it; the page comes back well after it was published, from the event before.
        await Hub.InvalidateAsync("lost:resume");
        var back = DateTime.UtcNow + AspNetCore.Delivery.SseConnection.OpenedMargin;
        SpinWait.SpinUntil(() => DateTime.UtcNow > back);
        await using var again = await SseClient.ConnectAsync(frontend.Http, "/api/cache-events?tags=resume:*,lost:*",
            configure: request => request.Headers.Add("Last-Event-ID", seen.EventId));
        Assert.Equal("connected", (await again.NextAsync("connected after coming back")).EventType);

        await subscriptions.RecoverAllAsync("a test forces a recovery");
        var recovered = await again.NextAsync("the lost event, which came after the page's resume point");
        Assert.Equal("lost:resume", recovered.Data);
        Assert.True(long.Parse(recovered.EventId!) > long.Parse(seen.EventId!));
    }
}
