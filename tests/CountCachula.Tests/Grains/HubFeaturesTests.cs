using CountCachula.Grains;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Grains;

/// <summary>Debounced invalidation and reminder-driven schedules on a real cluster.</summary>
[Collection(ClusterCollection.Name)]
public sealed class HubFeaturesTests(ClusterFixture fixture)
{
    [Theory]
    [InlineData(ClusterFixture.DebouncedTenant)]
    [InlineData(ClusterFixture.DefaultDebouncedTenant)]
    public async Task Invalidations_within_the_debounce_window_become_one_event_with_the_union(string tenant)
    {
        await using var received = await StreamProbe.EverythingAsync(fixture.Client, tenant);
        {
            var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);
            await Task.WhenAll(
                hub.Invalidate(["a", "b"]),
                hub.Invalidate(["b", "c"]),
                hub.Invalidate(["a", "d"]));

            var merged = await received.NextAsync("waiting for the debounced union");
            // Concurrent calls reach the grain in any order; the union holds each tag once.
            Assert.Equal(["a", "b", "c", "d"], merged.Items.Order(StringComparer.Ordinal));

            await hub.Invalidate(["after-window"]);
            var next = await received.NextAsync("waiting for the event of the next window");
            Assert.Equal(["after-window"], next.Items);
        }
    }

    [Fact]
    public async Task Tenants_not_configured_for_debouncing_send_each_invalidation_at_once()
    {
        var tenant = "plain-" + Guid.NewGuid().ToString("N")[..8];
        await using var received = await StreamProbe.EverythingAsync(fixture.Client, tenant);
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);

        await hub.Invalidate(["a"]);
        await hub.Invalidate(["b"]);

        Assert.Equal(["a"], (await received.NextAsync("first invalidation")).Items);
        Assert.Equal(["b"], (await received.NextAsync("second invalidation")).Items);
    }

    [Fact]
    public async Task A_schedule_fires_on_its_reminder_and_stops_when_cancelled()
    {
        var tenant = "sched-" + Guid.NewGuid().ToString("N")[..8];
        await using var received = await StreamProbe.EverythingAsync(fixture.Client, tenant);
        var hub = fixture.Client.GetGrain<IScheduleGrain>(tenant);
        try
        {
            await hub.ScheduleInvalidation("realtime", ["stats:realtime", "active-users"], TimeSpan.FromSeconds(1));
            Assert.Equal("realtime", Assert.Single(await hub.GetScheduledInvalidations()).Name);

            var first = await received.NextAsync("waiting for the schedule's first tick");
            var second = await received.NextAsync("waiting for the schedule's second tick");
            Assert.Equal(["stats:realtime", "active-users"], first.Items);
            Assert.True(second.Sequence > first.Sequence);

            Assert.True(await hub.CancelScheduledInvalidation("realtime"));
            Assert.False(await hub.CancelScheduledInvalidation("realtime"));
            Assert.Empty(await hub.GetScheduledInvalidations());
            // Ticks that fired before the cancel may still be buffered or in flight; past them comes our sentinel.
            await fixture.Client.GetGrain<ICacheHubGrain>(tenant).Invalidate(["sentinel"]);
            var next = await received.NextAsync("waiting for the sentinel after cancelling");
            for (var early = 0; early < 3 && next.Items.SequenceEqual(first.Items); early++)
            {
                next = await received.NextAsync("waiting for the sentinel past ticks from before the cancel");
            }

            Assert.Equal(["sentinel"], next.Items);
        }
        finally
        {
            await hub.CancelScheduledInvalidation("realtime");
        }
    }
}
