using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Grains;

/// <summary>What a publisher can rely on: idempotent retries, one hub activation's sequence, bounded history.</summary>
[Collection(ClusterCollection.Name)]
public sealed class PublishSemanticsTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_publish_retried_with_the_same_idempotency_key_is_delivered_once_and_answers_the_same_id()
    {
        var tenant = NewTenant();
        await using var everything = await StreamProbe.EverythingAsync(fixture.Client, tenant);
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);

        var first = await hub.Publish(CachePublication.Invalidate(["order:7"], "retry-me"));
        var again = await hub.Publish(CachePublication.Invalidate(["order:7"], "retry-me"));
        var other = await hub.Publish(CachePublication.Invalidate(["order:8"], "another-key"));

        Assert.False(first.Repeated);
        Assert.True(again.Repeated);
        Assert.Equal(first.Sequence, again.Sequence);
        Assert.False(other.Repeated);
        Assert.Equal(first.Sequence, (await everything.NextAsync("the keyed event")).Sequence);
        Assert.Equal(other.Sequence, (await everything.NextAsync("the next event, not a second copy")).Sequence);
    }

    [Fact]
    public async Task An_idempotency_key_that_is_not_printable_ascii_is_refused()
    {
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(NewTenant());

        var exception = await Assert.ThrowsAsync<ArgumentException>(() => hub.Publish(CachePublication.Invalidate(["a"], "has space")));

        Assert.Contains("printable ASCII", exception.Message);
    }

    [Fact]
    public async Task A_history_segment_refuses_an_append_from_a_stale_position()
    {
        var segment = fixture.Client.GetGrain<IHistorySegmentGrain>(NewTenant() + "/0/0");

        Assert.True(await segment.Append(Event(100), expectedPrevious: 99));
        Assert.True(await segment.Append(Event(101), expectedPrevious: 100));
        // A second hub activation that read the history at 100 would issue its own 101: refused.
        Assert.False(await segment.Append(Event(5_000), expectedPrevious: 100));
        Assert.Equal([100L, 101L], (await segment.Read(0)).Select(e => e.Sequence));
    }

    [Fact]
    public async Task A_hub_activation_that_lost_the_sequence_to_another_fails_its_publish_and_the_next_one_continues_after_the_winner()
    {
        var tenant = NewTenant();
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);
        var first = await hub.Publish(CachePublication.Invalidate(["a"]));
        var stats = await hub.GetHistoryStats();

        // Another activation of the same hub (membership not yet converged) appends after 'first' on its own.
        var winner = first.Sequence + 1_000;
        Assert.True(await fixture.Client.GetGrain<IHistorySegmentGrain>(stats.CurrentSegment!).Append(Event(winner, tenant), first.Sequence));

        await Assert.ThrowsAsync<HubUnavailableException>(() => hub.Publish(CachePublication.Invalidate(["b"])));
        var retried = await hub.Publish(CachePublication.Invalidate(["b"]));

        Assert.True(retried.Sequence > winner, $"the retry got {retried.Sequence}, not above the winner's {winner}");
        var replay = await hub.Replay(first.Sequence, null);
        Assert.Equal([winner, retried.Sequence], replay.Events.Select(e => e.Sequence));
    }

    [Fact]
    public async Task History_stays_under_its_byte_cap_however_large_the_events()
    {
        var tenant = NewTenant();
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);
        string[] tags = [.. Enumerable.Range(0, 1000).Select(i => $"entity:{i}:" + new string('x', 200))];
        long firstSequence = 0;
        for (var i = 0; i < 40; i++)
        {
            var receipt = await hub.Publish(CachePublication.Invalidate(tags));
            firstSequence = firstSequence == 0 ? receipt.Sequence : firstSequence;
        }

        var stats = await hub.GetHistoryStats();
        Assert.True(stats.Bytes <= ClusterFixture.HistoryMaxBytes, $"history holds {stats.Bytes} bytes, above the cap of {ClusterFixture.HistoryMaxBytes}");
        Assert.True(stats.Events is > 0 and < 40, $"history holds {stats.Events} events");
        // What was dropped is known to be dropped: replaying from the first event asks the client to reset.
        Assert.False((await hub.Replay(firstSequence, null)).Complete);
    }

    private static CacheEvent Event(long sequence, string tenant = "t") => new()
    {
        Tenant = tenant,
        Sequence = sequence,
        Kind = CacheEventKind.Invalidate,
        Items = ["x"],
        PublishedAtUtc = DateTime.UtcNow,
    };

    private static string NewTenant() => "p-" + Guid.NewGuid().ToString("N")[..12];
}
