using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;
using CountCachula.WebFrontend.Sample;

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
    public async Task Reads_carry_cache_tags_with_star_and_push_nothing()
    {
        var id = await CreateAsync("read me");
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using var _ = client;
        await client.SyncAsync(frontend.Get<ICacheHub>());

        using var list = await frontend.Http.GetAsync("/api/items");
        using var one = await frontend.Http.GetAsync($"/api/items/{id}");
        using var missing = await frontend.Http.GetAsync("/api/items/nope");
        await frontend.Get<ICacheHub>().InvalidateAsync("after-the-reads");

        Assert.Equal("items-list,*", Assert.Single(list.Headers.GetValues("Cache-Tags")));
        Assert.Equal($"item:{id},items-list,*", Assert.Single(one.Headers.GetValues("Cache-Tags")));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        // Reads hint nothing: the next event on the stream is the one published after them.
        var next = await client.NextAsync("the event after the reads");
        Assert.Equal(("invalidate", "after-the-reads"), (next.EventType, next.Data));
    }

    [Fact]
    public async Task A_body_over_the_sample_s_limit_is_413()
    {
        var big = new { name = new string('x', (int)ItemsEndpoints.MaxBodyBytes) };
        using var declared = await frontend.Http.PostAsJsonAsync("/api/items", big);
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/api/items")
        {
            Content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(big)))),
        };
        chunked.Headers.TransferEncodingChunked = true;
        chunked.Content.Headers.ContentType = new("application/json");
        using var undeclared = await frontend.Http.SendAsync(chunked);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, undeclared.StatusCode);
        Assert.Equal("application/problem+json", undeclared.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public void The_store_keeps_at_most_its_limit_and_names_the_item_it_dropped()
    {
        var store = new ItemStore(maxItems: 2);
        var (first, none) = store.Create(new JsonObject { ["name"] = "1" });
        store.Create(new JsonObject { ["name"] = "2" });

        var (_, dropped) = store.Create(new JsonObject { ["name"] = "3" });

        Assert.Null(none);
        Assert.Equal((string)first["id"]!, dropped);
        Assert.Equal(2, store.Count);
        Assert.Null(store.Find(dropped!));
        Assert.Equal(["2", "3"], store.All().Select(i => (string)i["name"]!));
    }

    [Fact]
    public async Task Demo_page_is_served_at_the_root_and_uses_event_source()
    {
        using var response = await frontend.Http.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();
        // The page passes its own query on (?access_token=, ?tags=, ?lastEventId=) to the stream it opens.
        Assert.Contains("new EventSource('/api/cache-events' + location.search)", html);
    }

    private async Task<string> CreateAsync(string name)
    {
        using var created = await frontend.Http.PostAsJsonAsync("/api/items", new { name });
        created.EnsureSuccessStatusCode();
        return (string)(await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!;
    }
}

/// <summary>The outbox sample: an order grain whose declared tags are written with its state.</summary>
public sealed class SampleOrdersTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    [Fact]
    public async Task Shipping_an_order_invalidates_its_tags_once_and_answers_with_the_event_id()
    {
        var order = "so-" + Guid.NewGuid().ToString("N")[..8];
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, $"/api/cache-events?tags=order:{order}");
        await using var _ = client;

        using var shipped = await frontend.Http.PostAsync($"/api/sample-orders/{order}/ship", null);

        Assert.Equal(HttpStatusCode.OK, shipped.StatusCode);
        var eventId = (long)(await shipped.Content.ReadFromJsonAsync<JsonObject>())!["eventId"]!;
        var told = await client.NextOfTypeAsync("invalidate", "the order's invalidation");
        Assert.Equal($"order:{order}", told.Data);
        Assert.Equal(eventId, long.Parse(told.EventId!));
        Assert.Equal(1, (int)(await frontend.Http.GetFromJsonAsync<JsonObject>($"/api/sample-orders/{order}"))!["shipments"]!);
    }

    [Fact]
    public async Task An_order_id_whose_tag_the_hub_would_refuse_is_a_400_problem()
    {
        using var response = await frontend.Http.PostAsync($"/api/sample-orders/{new string('x', 300)}/ship", null);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
