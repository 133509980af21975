using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Frontend;

/// <summary>Selective interests, the JSON format, custom events and scoped hints, seen through real streams.</summary>
public sealed class InterestsAndFormatsTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    private ICacheHub Hub => frontend.Get<ICacheHub>();

    [Fact]
    public async Task Connections_receive_only_the_tags_that_match_their_interests()
    {
        var (exact, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=user:123");
        var (pattern, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=posts:*");
        var (everything, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events");
        await using var a = exact;
        await using var b = pattern;
        await using var c = everything;

        await Hub.InvalidateAsync("user:123", "posts:1", "posts:1:comments", "users-list");
        await Hub.InvalidateAsync("unrelated");
        await Hub.InvalidateAsync("sentinel", "user:123", "posts:9");

        Assert.Equal("user:123", (await exact.NextAsync("exact interest, first event")).Data);
        Assert.Equal("posts:1,posts:1:comments", (await pattern.NextAsync("pattern interest, first event")).Data);
        Assert.Equal("user:123,posts:1,posts:1:comments,users-list", (await everything.NextAsync("* interest, first event")).Data);
        Assert.Equal("unrelated", (await everything.NextAsync("* interest, unrelated event")).Data);
        // The unrelated event never reached the selective streams: their next event is the sentinel.
        Assert.Equal("user:123", (await exact.NextAsync("exact interest, sentinel")).Data);
        Assert.Equal("posts:9", (await pattern.NextAsync("pattern interest, sentinel")).Data);
    }

    [Fact]
    public async Task A_published_star_reaches_every_connection_as_star()
    {
        var (exact, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=user:1");
        await using var _ = exact;

        await Hub.InvalidateAsync("*");

        var next = await exact.NextAsync("waiting for the clear-everything event");
        Assert.Equal(("invalidate", "*"), (next.EventType, next.Data));
    }

    [Fact]
    public async Task Interests_change_without_reconnecting()
    {
        var (client, id) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=a");
        await using var _ = client;

        using var change = new HttpRequestMessage(HttpMethod.Post, $"/api/cache-events/{id}/interests") { Content = JsonContent.Create(new { add = new[] { "b", "c:*" }, remove = new[] { "a" } }) };
        change.Headers.Add("X-Stream-Key", client.StreamKey);
        using var changed = await frontend.Http.SendAsync(change);
        await Hub.InvalidateAsync("a");
        await Hub.InvalidateAsync("b", "c:1", "d");

        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        using var body = JsonDocument.Parse(await changed.Content.ReadAsStringAsync());
        Assert.Equal(["b", "c:*"], body.RootElement.GetProperty("interests").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("b,c:1", (await client.NextAsync("waiting for the event matching the new interests")).Data);
    }

    [Fact]
    public async Task Changing_interests_of_an_unknown_connection_is_404()
    {
        using var response = await frontend.Http.PostAsJsonAsync("/api/cache-events/nope/interests", new { add = new[] { "x" } });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("/api/cache-events?tags=a*b", "only trailing wildcards")]
    [InlineData("/api/cache-events?tags=ok,,x", "tags[1] is empty")]
    [InlineData("/api/cache-events?format=xml", "format")]
    public async Task Bad_stream_parameters_are_400(string path, string expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");

        using var response = await frontend.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Json_format_sends_arrays_and_preload_events_with_commas_intact()
    {
        var (json, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?format=json");
        var (plain, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events");
        await using var a = json;
        await using var b = plain;

        await Hub.InvalidateAsync("item:42", "list,with,commas");
        await Hub.PreloadHintAsync("/api/items?ids=1,2", "/api/items/3");

        var invalidate = await json.NextAsync("json invalidate");
        var preload = await json.NextAsync("json preload");
        Assert.Equal("invalidate", invalidate.EventType);
        Assert.Equal(["item:42", "list,with,commas"], JsonSerializer.Deserialize<string[]>(invalidate.Data)!);
        Assert.Equal("preload", preload.EventType);
        Assert.Equal(["/api/items?ids=1,2", "/api/items/3"], JsonSerializer.Deserialize<string[]>(preload.Data)!);
        Assert.Equal("item:42,list%2Cwith%2Ccommas", (await plain.NextAsync("default invalidate")).Data);
        Assert.Equal(("preload-hint", "/api/items?ids=1%2C2,/api/items/3"), ((await plain.NextAsync("default preload-hint")) is var p ? (p.EventType, p.Data) : default));
    }

    [Fact]
    public async Task Scoped_preload_hints_and_custom_events_reach_only_interested_connections()
    {
        var (user, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=user:7");
        var (other, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=team:1");
        await using var a = user;
        await using var b = other;

        await Hub.PreloadHintAsync(["/api/users/7/settings"], ["user:7"]);
        await Hub.BroadcastAsync("entity-update", "{\"type\":\"user\",\"id\":\"7\"}\nsecond line", ["user:7", "users-list"]);
        await Hub.BroadcastAsync("metrics", "{\"load\":1}");

        Assert.Equal(("preload-hint", "/api/users/7/settings"), Pair(await user.NextAsync("scoped hint")));
        Assert.Equal(("entity-update", "{\"type\":\"user\",\"id\":\"7\"}\nsecond line"), Pair(await user.NextAsync("scoped custom event")));
        Assert.Contains("event: entity-update\ndata: {\"type\":\"user\",\"id\":\"7\"}\ndata: second line\n\n", user.RawText);
        Assert.Equal(("metrics", "{\"load\":1}"), Pair(await user.NextAsync("unscoped custom event")));
        // The other connection got neither scoped event: its first event is the unscoped one.
        Assert.Equal(("metrics", "{\"load\":1}"), Pair(await other.NextAsync("unscoped custom event on the other stream")));
    }

    [Theory]
    [InlineData("invalidate", "\"x\"")]
    [InlineData("heartbeat", "\"x\"")]
    [InlineData("bad name", "\"x\"")]
    [InlineData("ok", "\"a\\rb\"")]
    public async Task Custom_events_cannot_impersonate_the_hub_or_break_framing(string name, string dataJson)
    {
        using var response = await frontend.Http.PostAsync("/api/cache/broadcast",
            new StringContent($"{{\"event\":\"{name}\",\"data\":{dataJson}}}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await Assert.ThrowsAsync<ArgumentException>(() => Hub.BroadcastAsync(name, JsonSerializer.Deserialize<string>(dataJson)!));
    }

    private static (string?, string) Pair(System.Net.ServerSentEvents.SseItem<string> item) => (item.EventType, item.Data);
}
