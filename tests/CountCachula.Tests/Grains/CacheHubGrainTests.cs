
using CountCachula.Grains;
using CountCachula.Tests.Infrastructure;
using Orleans.Streams;

namespace CountCachula.Tests.Grains;

/// <summary>The hub grain on a real two-silo cluster: what it puts on which stream, and what it refuses.</summary>
[Collection(ClusterCollection.Name)]
public sealed class CacheHubGrainTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Invalidate_puts_one_event_on_the_broadcast_stream_and_on_each_listened_tag_stream()
    {
        var tenant = NewTenant();
        await using var broadcast = await StreamProbe.SubscribeAsync(fixture.Client, tenant, ListenerRoute.Broadcast);
        await using var userTag = await StreamProbe.SubscribeAsync(fixture.Client, tenant, ListenerRoute.ForTag("user:123"));
        await using var listTag = await StreamProbe.SubscribeAsync(fixture.Client, tenant, ListenerRoute.ForTag("users-list"));

        await fixture.Client.GetGrain<ICacheHubGrain>(tenant).Invalidate(["user:123", "users-list", "user:123"]);

        var onBroadcast = await broadcast.NextAsync("broadcast stream");
        var onUser = await userTag.NextAsync("user:123 tag stream");
        var onList = await listTag.NextAsync("users-list tag stream");
        Assert.Equal(tenant, onBroadcast.Tenant);
        Assert.Equal(CacheEventKind.Invalidate, onBroadcast.Kind);
        Assert.Equal(["user:123", "users-list"], onBroadcast.Items);
        Assert.Equal(onBroadcast.Sequence, onUser.Sequence);
        Assert.Equal(onBroadcast.Sequence, onList.Sequence);
    }

    [Fact]
    public async Task A_tag_stream_gets_events_only_while_its_topic_has_a_listener()
    {
        var tenant = NewTenant();
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);
        await using var broadcast = await StreamProbe.SubscribeAsync(fixture.Client, tenant, ListenerRoute.Broadcast);
        await using var unlistened = await StreamProbe.SubscribeUnlistedAsync(fixture.Client, CacheStreams.Tag(tenant, "quiet"));
        var topic = fixture.Client.GetGrain<ITagTopicGrain>(CacheTopics.TagKey(tenant, "quiet"));

        await hub.Invalidate(["quiet"]);                 // 1: nobody listens to the topic yet
        await topic.AddListener("silo-a");
        await hub.Invalidate(["quiet"]);                 // 2: routed to the topic
        await topic.AddListener("silo-b");
        await topic.RemoveListener("silo-a");
        await hub.Invalidate(["quiet"]);                 // 3: silo-b still listens
        await topic.RemoveListener("silo-b");
        await hub.Invalidate(["quiet"]);                 // 4: nobody listens again
        await topic.AddListener("silo-c");
        await hub.Invalidate(["quiet", "sentinel"]);     // 5: routed again

        var sequences = new List<long>();
        for (var i = 1; i <= 5; i++)
        {
            sequences.Add((await broadcast.NextAsync($"broadcast event {i}")).Sequence);
        }

        Assert.Equal(sequences[1], (await unlistened.NextAsync("tag stream, first routed event")).Sequence);
        Assert.Equal(sequences[2], (await unlistened.NextAsync("tag stream, second routed event")).Sequence);
        Assert.Equal(sequences[4], (await unlistened.NextAsync("tag stream, event after a listener came back")).Sequence);
        await topic.RemoveListener("silo-c");
    }

    [Fact]
    public async Task Preload_hints_go_to_the_broadcast_stream_only()
    {
        var tenant = NewTenant();
        await using var broadcast = await StreamProbe.SubscribeAsync(fixture.Client, tenant, ListenerRoute.Broadcast);
        await using var routeAsTag = await StreamProbe.SubscribeAsync(fixture.Client, tenant, ListenerRoute.ForTag("/api/items/1"));
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);

        await hub.PreloadHint(["/api/items/1"]);
        await hub.Invalidate(["/api/items/1"]);

        var hint = await broadcast.NextAsync("broadcast stream, hint");
        Assert.Equal(CacheEventKind.PreloadHint, hint.Kind);
        Assert.Equal(["/api/items/1"], hint.Items);
        // The tag stream's first event is the invalidation: the hint never went there.
        var onTag = await routeAsTag.NextAsync("tag stream, invalidation sentinel");
        Assert.Equal(CacheEventKind.Invalidate, onTag.Kind);
    }

    [Fact]
    public async Task Sequence_increases_per_tenant_and_tenants_do_not_share_it()
    {
        var a = NewTenant();
        var b = NewTenant();
        await using var streamA = await StreamProbe.SubscribeAsync(fixture.Client, a, ListenerRoute.Broadcast);
        await using var streamB = await StreamProbe.SubscribeAsync(fixture.Client, b, ListenerRoute.Broadcast);

        await fixture.Client.GetGrain<ICacheHubGrain>(a).Invalidate(["x"]);
        await fixture.Client.GetGrain<ICacheHubGrain>(a).PreloadHint(["/y"]);
        await fixture.Client.GetGrain<ICacheHubGrain>(b).Invalidate(["x"]);

        var a1 = await streamA.NextAsync("tenant A, first");
        var a2 = await streamA.NextAsync("tenant A, second");
        var b1 = await streamB.NextAsync("tenant B, first");
        Assert.Equal(a1.Sequence + 1, a2.Sequence);
        Assert.True(b1.Sequence > 0);
        Assert.Equal(b, b1.Tenant);
    }

    public static TheoryData<string[], string> BadTags => new()
    {
        { [], "At least one entry" },
        { [""], "tags[0] is empty" },
        { ["ok", "a\rb"], "tags[1] contains CR, LF or NUL" },
        { ["a\nb"], "CR, LF or NUL" },
        { ["a\0b"], "CR, LF or NUL" },
        { [new string('t', 257)], "257 characters" },
        { [.. Enumerable.Range(0, 1001).Select(i => $"t{i}")], "1001 entries" },
    };

    [Theory]
    [MemberData(nameof(BadTags))]
    public async Task Invalid_tags_throw_argument_exception_naming_the_problem(string[] tags, string expected)
    {
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(NewTenant());

        var exception = await Assert.ThrowsAsync<ArgumentException>(() => hub.Invalidate(tags));

        Assert.Contains(expected, exception.Message);
    }

    [Fact]
    public async Task Invalid_routes_throw_argument_exception()
    {
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(NewTenant());

        var exception = await Assert.ThrowsAsync<ArgumentException>(() => hub.PreloadHint(["/ok", "/a\r\nevent: x"]));

        Assert.Contains("routes[1]", exception.Message);
    }

    private static string NewTenant() => "t-" + Guid.NewGuid().ToString("N")[..12];
}
