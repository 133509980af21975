using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.CacheTags;
using CountCachula.AspNetCore.Publishing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace CountCachula.Tests.CacheTags;

/// <summary>One silo with output-cache eviction on and a cross-origin page allowed.</summary>
public sealed class TaggedAppFixture : IAsyncLifetime
{
    public const string Origin = "https://app.example.com";

    public TaggedApp App { get; private set; } = null!;

    public async Task InitializeAsync() => App = await TaggedApp.StartAsync("tags-" + Guid.NewGuid().ToString("N")[..8], null,
    [
        new("CountCachula:EvictOutputCache", "true"),
        new("CountCachula:AllowedOrigins:0", Origin),
    ]);

    public async Task DisposeAsync() => await App.DisposeAsync();
}

/// <summary>
/// One declaration of a response's tags gives the browser its <c>Cache-Tags</c> (with <c>*</c>, readable cross-origin)
/// and the output cache its entry tags, which the hub's invalidations evict before the browser hears of them.
/// </summary>
public sealed class CacheTagsTests(TaggedAppFixture fixture) : IClassFixture<TaggedAppFixture>
{
    private TaggedApp App => fixture.App;

    [Fact]
    public async Task Route_values_fill_the_tags_and_the_header_lists_star_last()
    {
        using var response = await App.Http.GetAsync("/docs/42");

        Assert.Equal("doc:42,docs-list,*", Assert.Single(response.Headers.GetValues("Cache-Tags")));
    }

    [Fact]
    public async Task Dynamic_tags_from_the_http_context_reach_the_header()
    {
        var word = "dyn" + Guid.NewGuid().ToString("N")[..6];
        DocsApi.Documents[word + "-a"] = word;
        DocsApi.Documents[word + "-b"] = word;

        using var response = await App.Http.GetAsync($"/search?q={word}");

        Assert.Equal($"docs-list,doc:{word}-a,doc:{word}-b,*", Assert.Single(response.Headers.GetValues("Cache-Tags")));
    }

    [Fact]
    public async Task A_page_on_an_allowed_origin_can_read_the_header()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/docs/cors");
        request.Headers.Add("Origin", TaggedAppFixture.Origin);

        using var response = await App.Http.SendAsync(request);

        Assert.Equal(TaggedAppFixture.Origin, Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Contains("Cache-Tags", string.Join(',', response.Headers.GetValues("Access-Control-Expose-Headers")));
        Assert.Equal("doc:cors,docs-list,*", Assert.Single(response.Headers.GetValues("Cache-Tags")));
    }

    [Fact]
    public async Task A_route_value_that_cannot_be_a_tag_is_a_400_naming_it()
    {
        using var response = await App.Http.GetAsync("/docs/caf%C3%A9");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"id\"", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_output_cache_entry_carries_the_tenant_scoped_tags()
    {
        var id = Guid.NewGuid().ToString("N");
        DocsApi.Documents[id] = "v1";
        await App.Get<OutputCacheEviction>().WhenListening("default");
        Assert.Equal("v1", await App.GetUntilCachedAsync($"/docs/{id}"));
        DocsApi.Documents[id] = "v2";
        Assert.Equal("v1", await App.Http.GetStringAsync($"/docs/{id}"));

        await App.Get<IOutputCacheStore>().EvictByTagAsync(OutputCacheTags.For("default", $"doc:{id}"), default);
        Assert.Equal("v2", await App.GetUntilCachedAsync($"/docs/{id}"));
        DocsApi.Documents[id] = "v3";

        await App.Get<IOutputCacheStore>().EvictByTagAsync(OutputCacheTags.AllOf("default"), default);
        Assert.Equal("v3", await App.Http.GetStringAsync($"/docs/{id}"));
    }

    [Fact]
    public async Task A_hub_invalidation_evicts_the_entry_before_the_browser_hears_of_it()
    {
        var id = Guid.NewGuid().ToString("N");
        DocsApi.Documents[id] = "old";
        var (browser, _) = await SseClient.ConnectAndWaitAsync(App.Http, $"/api/cache-events?tags=doc:{id}");
        await using var _ = browser;
        await App.Get<OutputCacheEviction>().WhenListening("default");
        Assert.Equal("old", await App.GetUntilCachedAsync($"/docs/{id}"));

        DocsApi.Documents[id] = "new";
        await App.Get<ICacheHub>().InvalidateAsync($"doc:{id}");

        // The invalidation of this document, not whatever else reached the stream first (a '*' of another test of this
        // class can, when the hub re-routes its recent events after an activation).
        SseItem<string> told;
        do
        {
            told = await browser.NextOfTypeAsync("invalidate", $"the browser's invalidation of doc:{id}");
        }
        while (told.Data != $"doc:{id}");

        // What the browser does on 'invalidate': refetch. The server's copy is already gone.
        Assert.True(App.Get<OutputCacheEviction>().LastEvicted("default") >= long.Parse(told.EventId!));
        Assert.Equal("new", await App.Http.GetStringAsync($"/docs/{id}"));
    }

    [Fact]
    public async Task Star_evicts_every_tagged_entry_of_the_tenant()
    {
        var id = Guid.NewGuid().ToString("N");
        DocsApi.Documents[id] = "old";
        var (browser, _) = await SseClient.ConnectAndWaitAsync(App.Http, "/api/cache-events");
        await using var _ = browser;
        await App.Get<OutputCacheEviction>().WhenListening("default");
        Assert.Equal("old", await App.GetUntilCachedAsync($"/docs/{id}"));

        DocsApi.Documents[id] = "new";
        await App.Get<ICacheHub>().InvalidateAsync("*");
        Assert.Equal("*", (await browser.NextOfTypeAsync("invalidate", "the browser's invalidation of *")).Data);

        Assert.Equal("new", await App.Http.GetStringAsync($"/docs/{id}"));
    }

    [Fact]
    public async Task A_response_made_while_its_tag_was_invalidated_is_not_stored()
    {
        var id = Guid.NewGuid().ToString("N");
        DocsApi.Documents[id] = "old";
        var gate = (Reading: new TaskCompletionSource(), Release: new TaskCompletionSource());
        DocsApi.Gates[id] = gate;
        var (browser, _) = await SseClient.ConnectAndWaitAsync(App.Http, $"/api/cache-events?tags=doc:{id}");
        await using var _ = browser;
        await App.Get<OutputCacheEviction>().WhenListening("default");

        // The read has declared its tags and is about to read the database when the write and its invalidation land.
        var slow = App.Http.GetStringAsync($"/slow/{id}");
        await gate.Reading.Task.WaitAsync(Timeouts.Default);
        await App.Get<ICacheHub>().InvalidateAsync($"doc:{id}");
        await browser.NextAsync("the invalidation during the read");
        gate.Release.SetResult();
        Assert.Equal("old", await slow);

        // Its answer held the data the invalidation made stale: it must not be served from the cache now.
        DocsApi.Documents[id] = "new";
        DocsApi.Gates[id] = (new TaskCompletionSource(), new TaskCompletionSource());
        DocsApi.Gates[id].Release.SetResult();
        Assert.Equal("new", await App.Http.GetStringAsync($"/slow/{id}"));
    }

    [Fact]
    public async Task The_sample_s_writer_reads_its_write_at_once_from_the_silo_that_took_it()
    {
        await App.Get<OutputCacheEviction>().WhenListening("default");
        using var first = await App.Http.PostAsJsonAsync("/api/items", new { name = "first" });
        await App.GetUntilCachedAsync("/api/items");

        using var second = await App.Http.PostAsJsonAsync("/api/items", new { name = "second" });
        var list = await App.Http.GetStringAsync("/api/items");

        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Contains("\"second\"", list);
    }

    [Fact]
    public async Task Only_the_stream_s_query_is_read_the_client_s_way()
    {
        var echoed = await App.Http.GetStringAsync("/echo-query?tags=x?since=y");

        Assert.Equal("?tags=x?since=y", echoed);
    }

    [Fact]
    public void The_header_spells_tags_as_invalidate_events_do_and_star_can_be_switched_off()
    {
        Assert.Equal("a%2Cb,50%25,c,*", CacheTagsHeader.Format(["a,b", "50%", "c"], includeAll: true));
        Assert.Equal("a,*", CacheTagsHeader.Format(["a", "*"], includeAll: true));
        Assert.Equal("a", CacheTagsHeader.Format(["a"], includeAll: false));
        Assert.NotNull(CacheTagsHeader.Problem("café"));
        Assert.NotNull(CacheTagsHeader.Problem(" padded"));
        Assert.NotNull(CacheTagsHeader.Problem("line\nbreak"));
        Assert.Null(CacheTagsHeader.Problem("item:42"));
    }

    [Fact]
    public void A_template_naming_a_missing_route_parameter_fails_when_endpoints_are_built()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddCountCachula();
        using var app = builder.Build();
        app.MapGet("/things/{id}", (string id) => id).WithCacheTags("thing:{nope}");

        var failure = Assert.Throws<InvalidOperationException>(() => ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).ToList());
        Assert.Contains("{nope}", failure.Message);
    }
}
