using System.Threading.Channels;
using CountCachula.Grains;
using CountCachula.Tests.Infrastructure;
using Orleans.Streams;

namespace CountCachula.Tests.Grains;

/// <summary>Debounced invalidation and reminder-driven schedules on a real cluster.</summary>
[Collection(ClusterCollection.Name)]
public sealed class HubFeaturesTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Invalidations_within_the_debounce_window_become_one_event_with_the_union()
    {
        var received = Channel.CreateUnbounded<CacheEvent>();
        var stream = fixture.Client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(CacheStreams.Broadcast(ClusterFixture.DebouncedTenant));
        var handle = await stream.SubscribeAsync((e, _) => { received.Writer.TryWrite(e); return Task.CompletedTask; });
        try
        {
            var hub = fixture.Client.GetGrain<ICacheHubGrain>(ClusterFixture.DebouncedTenant);
            await Task.WhenAll(
                hub.Invalidate(["a", "b"]),
                hub.Invalidate(["b", "c"]),
                hub.Invalidate(["a", "d"]));

            using var cts = new CancellationTokenSource(Timeouts.Default);
            var merged = await received.Reader.ReadAsync(cts.Token);
            // Concurrent calls reach the grain in any order; the union holds each tag once.
            Assert.Equal(["a", "b", "c", "d"], merged.Items.Order(StringComparer.Ordinal));

            await hub.Invalidate(["after-window"]);
            var next = await received.Reader.ReadAsync(cts.Token);
            Assert.Equal(["after-window"], next.Items);
        }
        finally
        {
            await handle.UnsubscribeAsync();
        }
    }

    [Fact]
    public async Task A_schedule_fires_on_its_reminder_and_stops_when_cancelled()
    {
        var tenant = "sched-" + Guid.NewGuid().ToString("N")[..8];
        var received = Channel.CreateUnbounded<CacheEvent>();
        var stream = fixture.Client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(CacheStreams.Broadcast(tenant));
        var handle = await stream.SubscribeAsync((e, _) => { received.Writer.TryWrite(e); return Task.CompletedTask; });
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);
        try
        {
            await hub.ScheduleInvalidation("realtime", ["stats:realtime", "active-users"], TimeSpan.FromSeconds(1));
            Assert.Equal("realtime", Assert.Single(await hub.GetScheduledInvalidations()).Name);

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var first = await received.Reader.ReadAsync(cts.Token);
            var second = await received.Reader.ReadAsync(cts.Token);
            Assert.Equal(["stats:realtime", "active-users"], first.Items);
            Assert.True(second.Sequence > first.Sequence);

            Assert.True(await hub.CancelScheduledInvalidation("realtime"));
            Assert.False(await hub.CancelScheduledInvalidation("realtime"));
            Assert.Empty(await hub.GetScheduledInvalidations());
            // After cancelling, the next event on the stream is our sentinel, however long we wait for it.
            while (received.Reader.TryRead(out _))
            {
            }

            await hub.Invalidate(["sentinel"]);
            var next = await received.Reader.ReadAsync(cts.Token);
            Assert.Equal(["sentinel"], next.Items);
        }
        finally
        {
            await hub.CancelScheduledInvalidation("realtime");
            await handle.UnsubscribeAsync();
        }
    }
}
