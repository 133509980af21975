using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using CountCachula.Tests.Infrastructure;
using CountCachula.WebFrontend.Publishing;

namespace CountCachula.Tests.Frontend;

/// <summary>The specification's "Complete Server Setup" sample, observed through a real SSE stream.</summary>
public sealed class SampleItemsTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    [Fact]
    public async Task Creating_an_item_invalidates_the_list_then_hints_the_new_item()
    {
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using var _ = client;

        using var created = await frontend.Http.PostAsJsonAsync("/api/items", new { name = "Widget" });

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var item = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("Widget", (string?)item["name"]);
        var id = (string)item["id"]!;

        var invalidate = await client.NextAsync("waiting for the list invalidation after POST");
        Assert.Equal(("invalidate", "items-list"), (invalidate.EventType, invalidate.Data));
        var hint = await client.NextAsync("waiting for the preload hint after POST");
        Assert.Equal(("preload-hint", $"/api/items/{id}"), (hint.EventType, hint.Data));
        Assert.Contains("event: invalidate\ndata: items-list\n\n", client.RawText);
        Assert.Contains($"event: preload-hint\ndata: /api/items/{id}\n\n", client.RawText);
    }

    [Fact]
    public async Task Patching_an_item_invalidates_the_item_and_the_list()
    {
        var id = await CreateAsync("Before");
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using var _ = client;
        await client.SyncAsync(frontend.Get<ICacheHub>());

        using var patched = await frontend.Http.PatchAsJsonAsync($"/api/items/{id}", new { name = "After" });

        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        var item = (await patched.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("After", (string?)item["name"]);
        Assert.NotNull(item["updatedAt"]);
        var invalidate = await client.NextAsync("waiting for the invalidation after PATCH");
        Assert.Equal(("invalidate", $"item:{id},items-list"), (invalidate.EventType, invalidate.Data));
    }

    [Fact]
    public async Task Patching_an_unknown_item_is_404_and_publishes_nothing()
    {
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using var _ = client;

        using var response = await frontend.Http.PatchAsJsonAsync("/api/items/no-such-item", new { name = "x" });
        await frontend.Http.PostAsJsonAsync("/api/cache/invalidate", new { tags = new[] { "sentinel" } });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var next = await client.NextAsync("waiting for the sentinel after the 404");
        Assert.Equal("sentinel", next.Data);
    }

    [Fact]
    public async Task Reads_carry_cache_tags_and_the_list_hints_its_first_three_items()
    {
        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add(await CreateAsync($"item {i}"));
        }

        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using var _ = client;
        await client.SyncAsync(frontend.Get<ICacheHub>());

        using var list = await frontend.Http.GetAsync("/api/items");
        using var one = await frontend.Http.GetAsync($"/api/items/{ids[0]}");
        using var missing = await frontend.Http.GetAsync("/api/items/nope");

        Assert.Equal("items-list", Assert.Single(list.Headers.GetValues("Cache-Tags")));
        Assert.Equal($"item:{ids[0]},items-list", Assert.Single(one.Headers.GetValues("Cache-Tags")));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var all = (await list.Content.ReadFromJsonAsync<JsonArray>())!;
        var firstThree = all.Take(3).Select(item => $"/api/items/{item!["id"]}");
        var hint = await client.NextAsync("waiting for the list's preload hint");
        Assert.Equal(("preload-hint", string.Join(',', firstThree)), (hint.EventType, hint.Data));
    }

    [Fact]
    public async Task Demo_page_is_served_at_the_root_and_uses_event_source()
    {
        using var response = await frontend.Http.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("new EventSource('/api/cache-events')", html);
    }

    private async Task<string> CreateAsync(string name)
    {
        using var created = await frontend.Http.PostAsJsonAsync("/api/items", new { name });
        created.EnsureSuccessStatusCode();
        return (string)(await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!;
    }
}
