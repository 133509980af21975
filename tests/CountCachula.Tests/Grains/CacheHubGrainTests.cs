
using CountCachula.Grains;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Grains;

/// <summary>The hub grain on a real two-silo cluster: what it puts on which stream, and what it refuses.</summary>
[Collection(ClusterCollection.Name)]
public sealed class CacheHubGrainTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Invalidate_reaches_every_everything_listener_and_each_listener_of_one_of_its_tags()
    {
        var tenant = NewTenant();
        await using var everything = await StreamProbe.EverythingAsync(fixture.Client, tenant);
        await using var userTag = await StreamProbe.TagsAsync(fixture.Client, tenant, "user:123");
        await using var listTag = await StreamProbe.TagsAsync(fixture.Client, tenant, "users-list");

        await fixture.Client.GetGrain<ICacheHubGrain>(tenant).Invalidate(["user:123", "users-list", "user:123"]);

        var onEverything = await everything.NextAsync("everything listener");
        var onUser = await userTag.NextAsync("user:123 listener");
        var onList = await listTag.NextAsync("users-list listener");
        Assert.Equal(tenant, onEverything.Tenant);
        Assert.Equal(CacheEventKind.Invalidate, onEverything.Kind);
        Assert.Equal(["user:123", "users-list"], onEverything.Items);
        Assert.Equal(onEverything.Sequence, onUser.Sequence);
        Assert.Equal(onEverything.Sequence, onList.Sequence);
    }

    [Fact]
    public async Task A_listener_gets_a_tags_events_only_while_it_is_registered_with_the_tags_topic()
    {
        var tenant = NewTenant();
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);
        await using var everything = await StreamProbe.EverythingAsync(fixture.Client, tenant);
        await using var probe = await StreamProbe.SubscribeAsync(fixture.Client, tenant);
        var topic = fixture.Client.GetGrain<ITagTopicGrain>(CacheTopics.TopicKeyFor(tenant, "quiet"));

        await hub.Invalidate(["quiet"]);                         // 1: not registered yet
        await topic.Listen(probe.ListenerId, ["quiet"]);
        await hub.Invalidate(["quiet"]);                         // 2: routed to the probe
        await topic.Listen("proc-other", ["quiet"]);
        await topic.Listen(probe.ListenerId, ["quiet"]);         // registering twice changes nothing
        await hub.Invalidate(["quiet"]);                         // 3: once, not twice
        await topic.Unlisten(probe.ListenerId, ["quiet"]);
        await hub.Invalidate(["quiet"]);                         // 4: unregistered again
        await topic.Listen(probe.ListenerId, ["quiet"]);
        await hub.Invalidate(["quiet", "sentinel"]);             // 5: routed again

        var sequences = new List<long>();
        for (var i = 1; i <= 5; i++)
        {
            sequences.Add((await everything.NextAsync($"reference event {i}")).Sequence);
        }

        Assert.Equal(sequences[1], (await probe.NextAsync("first routed event")).Sequence);
        Assert.Equal(sequences[2], (await probe.NextAsync("second routed event")).Sequence);
        Assert.Equal(sequences[4], (await probe.NextAsync("event after registering again")).Sequence);
        Assert.Equal(["proc-other"], await topic.ListenersOf("quiet").ContinueWith(t => t.Result.Where(id => id != probe.ListenerId).ToList()));
        await topic.Unlisten("proc-other", ["quiet"]);
    }

    [Fact]
    public async Task Preload_hints_go_to_everything_and_notice_listeners_not_to_tag_listeners()
    {
        var tenant = NewTenant();
        await using var everything = await StreamProbe.EverythingAsync(fixture.Client, tenant);
        await using var notices = await StreamProbe.NoticesAsync(fixture.Client, tenant);
        await using var routeAsTag = await StreamProbe.TagsAsync(fixture.Client, tenant, "/api/items/1");
        var hub = fixture.Client.GetGrain<ICacheHubGrain>(tenant);

        await hub.PreloadHint(["/api/items/1"]);
        await hub.Invalidate(["/api/items/1"]);

        var hint = await everything.NextAsync("everything listener, hint");
        Assert.Equal(CacheEventKind.PreloadHint, hint.Kind);
        Assert.Equal(["/api/items/1"], hint.Items);
        Assert.Equal(hint.Sequence, (await notices.NextAsync("notice listener, hint")).Sequence);
        // The tag listener's first event is the invalidation: the hint never went there.
        var onTag = await routeAsTag.NextAsync("tag listener, invalidation sentinel");
        Assert.Equal(CacheEventKind.Invalidate, onTag.Kind);
    }

    [Fact]
    public async Task Sequence_increases_per_tenant_and_tenants_do_not_share_it()
    {
        var a = NewTenant();
        var b = NewTenant();
        await using var streamA = await StreamProbe.EverythingAsync(fixture.Client, a);
        await using var streamB = await StreamProbe.EverythingAsync(fixture.Client, b);

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
