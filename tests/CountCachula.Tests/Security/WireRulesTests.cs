using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Security;

/// <summary>
/// What goes over the wire cannot mislead a client: a <c>since</c> from a fast clock starts over, a preload route
/// never leaves the page's origin, and two different tags never look the same in the comma-joined format.
/// </summary>
public sealed class WireRulesTests(FrontendFixture fixture) : IClassFixture<FrontendFixture>
{
    private ICacheHub Hub => fixture.Get<ICacheHub>();

    [Fact]
    public async Task A_since_in_the_future_gets_reset_and_invalidate_all()
    {
        await Hub.InvalidateAsync("before-the-future");
        var future = DateTime.UtcNow.AddHours(1).ToString("O", CultureInfo.InvariantCulture);

        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?since=" + Uri.EscapeDataString(future));

        Assert.Equal("connected", (await client.NextAsync("connected")).EventType);
        Assert.Equal("reset", (await client.NextAsync("reset for a since after now")).EventType);
        Assert.Equal(("invalidate", "*"), (await client.NextAsync("invalidate * after the reset")) is var e ? (e.EventType, e.Data) : default);
    }

    [Fact]
    public async Task A_since_in_the_past_still_replays()
    {
        // The history answers for times after an event it holds: one event first, then the mark, then the missed one.
        await Hub.InvalidateAsync("missed-before-the-mark");
        var since = DateTime.UtcNow.AddMilliseconds(-1).ToString("O", CultureInfo.InvariantCulture);
        await Hub.InvalidateAsync("missed:" + since);

        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?tags=missed:*&since=" + Uri.EscapeDataString(since));

        Assert.Equal("connected", (await client.NextAsync("connected")).EventType);
        Assert.Equal(("invalidate", "missed:" + since), (await client.NextAsync("the missed tag")) is var e ? (e.EventType, e.Data) : default);
    }

    [Theory]
    [InlineData("//evil.example/steal")]
    [InlineData("/\\evil.example/steal")]
    [InlineData("javascript:alert(1)")]
    [InlineData("http://evil.example/")]
    [InlineData("https://app.example/same-but-absolute")]
    [InlineData("api/relative-without-slash")]
    public async Task A_preload_route_that_is_not_a_relative_path_is_refused_naming_it(string route)
    {
        using var response = await fixture.Http.PostAsync("/api/cache/preload",
            new StringContent(JsonSerializer.Serialize(new { routes = new[] { "/fine", route } }), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("routes[1] must be a relative path starting with a single '/'", body);
        await Assert.ThrowsAsync<ArgumentException>(() => Hub.PreloadHintAsync(route));
    }

    /// <summary>
    /// Each of these is a same-origin path to a naive check, but a browser's URL parser drops tabs and newlines and
    /// trims spaces and controls first, so <c>new URL(route, "https://app.example/")</c> lands on evil.example.
    /// </summary>
    [Theory]
    [InlineData("/\t/evil.example/x", "contains a control character")]
    [InlineData("/\u000b/evil.example/x", "contains a control character")]
    [InlineData("/x\u007f", "contains a control character")]
    [InlineData("\t//evil.example/x", "contains a control character")]
    [InlineData(" //evil.example/x", "starts or ends with a space")]
    [InlineData("  /fine-but-padded", "starts or ends with a space")]
    [InlineData("/\n/evil.example/x", "contains CR, LF or NUL")]
    [InlineData("/\r/evil.example/x", "contains CR, LF or NUL")]
    [InlineData("\\\\evil.example/x", "must be a relative path starting with a single '/'")]
    public async Task A_preload_route_a_browser_would_resolve_to_another_origin_is_refused_naming_it(string escaped, string problem)
    {
        var route = System.Text.RegularExpressions.Regex.Unescape(escaped);
        using var response = await fixture.Http.PostAsync("/api/cache/preload",
            new StringContent(JsonSerializer.Serialize(new { routes = new[] { "/fine", route } }), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("routes[1] " + problem, await response.Content.ReadAsStringAsync());
        await Assert.ThrowsAsync<ArgumentException>(() => Hub.PreloadHintAsync(route));
    }

    [Fact]
    public async Task A_percent_encoded_tab_stays_on_the_page_origin_and_goes_out_as_sent()
    {
        // Browsers never decode %09 while resolving, so "/%09/evil.example/x" is the path "/%09/evil.example/x" of the
        // page's own origin: it is accepted and reaches the stream byte for byte.
        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events");
        Assert.Equal("connected", (await client.NextAsync("connected")).EventType);

        using var response = await fixture.Http.PostAsync("/api/cache/preload",
            new StringContent("""{"routes":["/%09/evil.example/x"]}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var hint = await client.NextAsync("the preload hint");
        while (hint.EventType != "preload-hint")
        {
            hint = await client.NextAsync("the preload hint");
        }

        Assert.Equal("/%09/evil.example/x", hint.Data);
    }

    [Fact]
    public async Task A_relative_route_is_accepted()
    {
        using var response = await fixture.Http.PostAsync("/api/cache/preload",
            new StringContent("""{"routes":["/","/api/items?ids=1,2","/a%20b"]}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task Without_auth_an_interest_change_still_needs_the_streams_key()
    {
        var (client, id) = await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?tags=keyed");
        await using var _ = client;

        using var response = await fixture.Http.PostAsync($"/api/cache-events/{id}/interests",
            new StringContent("""{"remove":["keyed"]}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("X-Stream-Key", await response.Content.ReadAsStringAsync());
        await Hub.InvalidateAsync("keyed");
        Assert.Equal("keyed", (await client.NextAsync("the stream keeps its interest")).Data);
    }

    [Fact]
    public async Task Tags_with_a_comma_or_percent_stay_distinct_and_decode_back_in_the_default_format()
    {
        var (plain, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?tags=comma:*");
        await using var _ = plain;
        string[] tags = ["comma:a,b", "comma:a%2Cb", "comma:100%", "comma:plain"];

        await Hub.InvalidateAsync(tags);

        var data = (await plain.NextAsync("the comma tags")).Data;
        Assert.Equal("comma:a%2Cb,comma:a%252Cb,comma:100%25,comma:plain", data);

        // What a client gets back by splitting on ',' and decoding each piece (decodeURIComponent) is exactly what was sent.
        Assert.Equal(tags, data.Split(',').Select(Uri.UnescapeDataString));
    }
}
