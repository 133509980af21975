using System.Net.Http.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Streaming;
using Xunit.Abstractions;

namespace CountCachula.Tests.Cluster;

/// <summary>Its own three-silo cluster, one of which this test stops.</summary>
public sealed class SiloLossFixture : IAsyncLifetime
{
    private readonly ThreeSiloFixture _cluster = new();

    public IReadOnlyList<TestFrontend> Silos => _cluster.Silos;

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public async Task DisposeAsync()
    {
        foreach (var silo in Silos.Take(2).Reverse())
        {
            await silo.DisposeAsync();
        }
    }
}

/// <summary>
/// A silo goes away with the topic grains (and their in-memory listeners) it hosted: the survivors drop it as a
/// listener by membership, register again, and recover from the history — nothing published is lost.
/// </summary>
public sealed class SiloLossTests(SiloLossFixture cluster, ITestOutputHelper output) : IClassFixture<SiloLossFixture>
{
    [Fact]
    public async Task After_a_silo_dies_its_listeners_are_dropped_and_events_for_every_shard_still_reach_the_survivors_streams()
    {
        var (a, b, c) = (cluster.Silos[0], cluster.Silos[1], cluster.Silos[2]);
        // Two tags per shard: some of the shards' topic grains surely lived on the silo that goes.
        var tags = Enumerable.Range(0, 64 * 8).Select(i => $"lost:{i}").GroupBy(CacheTopics.ShardOf).SelectMany(g => g.Take(2)).ToArray();
        Assert.Equal(CacheTopics.TopicShards * 2, tags.Length);
        var query = "/api/cache-events?tags=" + string.Join(',', tags);
        var (onA, _) = await SseClient.ConnectAndWaitAsync(a.Http, query);
        var (onB, _) = await SseClient.ConnectAndWaitAsync(b.Http, query);
        await using var streamA = onA;
        await using var streamB = onB;
        var (onC, _) = await SseClient.ConnectAndWaitAsync(c.Http, query);
        var dead = c.Get<TopicSubscriptions>().ListenerId;
        var grains = a.Get<IGrainFactory>();
        Assert.Contains(dead, await grains.GetGrain<ITagTopicGrain>(CacheTopics.TopicKeyFor("default", tags[0])).ListenersOf(tags[0]));

        await onC.DisposeAsync();
        await c.DisposeAsync();
        await ThreeSiloFixture.WaitForMembersAsync(a, 2);
        await ThreeSiloFixture.WaitForMembersAsync(b, 2);

        var hub = a.Get<ICacheHub>();
        foreach (var tag in tags)
        {
            await PublishWithRetryAsync(hub, CachePublication.Invalidate([tag], "loss-" + tag));
        }

        var sentinel = await PublishWithRetryAsync(hub, CachePublication.Invalidate(["*"], "loss-sentinel"));
        foreach (var (name, stream) in new[] { ("A", streamA), ("B", streamB) })
        {
            var (received, reset) = await ReadUntilAsync(stream, sentinel.Sequence, name);
            output.WriteLine($"stream on {name}: {received.Count(tags.Contains)} of {tags.Length} tags, reset: {reset}");
            Assert.True(reset || tags.All(received.Contains), $"stream on {name} missed {string.Join(",", tags.Where(t => !received.Contains(t)))} and got no reset");
        }

        foreach (var tag in tags)
        {
            var listeners = await grains.GetGrain<ITagTopicGrain>(CacheTopics.TopicKeyFor("default", tag)).ListenersOf(tag);
            Assert.DoesNotContain(dead, listeners);
            Assert.Contains(a.Get<TopicSubscriptions>().ListenerId, listeners);
            Assert.Contains(b.Get<TopicSubscriptions>().ListenerId, listeners);
        }
    }

    /// <summary>What a publisher does with a 503: retry with the same key, so the event goes out once.</summary>
    private static async Task<PublishReceipt> PublishWithRetryAsync(ICacheHub hub, CachePublication publication)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await hub.PublishAsync(publication);
            }
            catch (Exception exception) when (TransientFailures.IsTransient(exception) && attempt < 100)
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task<(HashSet<string> Tags, bool Reset)> ReadUntilAsync(SseClient stream, long sentinel, string name)
    {
        var tags = new HashSet<string>(StringComparer.Ordinal);
        var reset = false;
        while (true)
        {
            var next = await stream.NextAsync($"stream on {name}: reading up to the sentinel {sentinel}");
            reset |= next.EventType == "reset";
            if (next.EventType == "invalidate")
            {
                tags.UnionWith(next.Data.Split(','));
            }

            if (next.EventId == sentinel.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                return (tags, reset);
            }
        }
    }
}
