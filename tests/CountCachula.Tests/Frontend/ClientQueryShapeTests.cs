using System.Net;
using System.Text.Json;
using CountCachula.AspNetCore.Endpoints;
using CountCachula.AspNetCore.Security;
using CountCachula.Tests.Infrastructure;
using CountCachula.Tests.Security;
using CountCachula.WebFrontend.Hosting;
using CountCachula.AspNetCore.Hosting;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Frontend;

/// <summary>
/// <c>@countcachula/core</c> appends <c>?since=</c> with a literal <c>?</c> even to an endpoint that has a query: those
/// URLs, sent as raw requests, behave exactly like their <c>&amp;</c> forms — for the token, the interests, the format
/// and the replay.
/// </summary>
public sealed class ClientQueryShapeTests(AuthFixture fixture) : IClassFixture<AuthFixture>
{
    private ICacheHub Hub => fixture.Get<ICacheHub>().ForTenant("acme");

    [Theory]
    [InlineData("?tags=item:1?since=2026-11-27T20:11:05.874Z", "?tags=item:1&since=2026-11-27T20:11:05.874Z")]
    [InlineData("?access_token=a.b.c?since=2026-11-27T20:11:05.874Z", "?access_token=a.b.c&since=2026-11-27T20:11:05.874Z")]
    [InlineData("?format=json?since=x", "?format=json&since=x")]
    [InlineData("?tags=a,b?format=json?access_token=t?since=x", "?tags=a,b&format=json&access_token=t&since=x")]
    [InlineData("?TAGS=a?Since=x", "?TAGS=a&Since=x")]
    [InlineData("??since=x", "?&since=x")]
    [InlineData("?tags=a&since=x", "?tags=a&since=x")]
    [InlineData("?tags=what?is=this", "?tags=what?is=this")]
    [InlineData("?tags=a%3Fsince=x", "?tags=a%3Fsince=x")]
    [InlineData("?tags=a?sincere=x", "?tags=a?sincere=x")]
    public void A_question_mark_that_starts_a_hub_parameter_separates_and_any_other_stays(string query, string expected)
    {
        Assert.Equal(expected, ClientQueryShape.Normalize(query));
    }

    [Fact]
    public async Task A_token_in_the_query_followed_by_question_mark_since_is_accepted()
    {
        var since = DateTime.UtcNow.AddMinutes(-1).ToString("O");

        await using var client = await SseClient.ConnectAsync(fixture.Http, $"/api/cache-events?access_token={AuthFixture.Token()}?since={since}");

        Assert.Equal(HttpStatusCode.OK, client.Response.StatusCode);
        Assert.Equal("connected", (await client.NextAsync("connected with ?access_token=…?since=…")).EventType);
    }

    [Fact]
    public async Task Interests_then_question_mark_since_limit_the_stream_and_replay_what_was_missed()
    {
        // The hub vouches only for what happened since its history was created: make sure it exists before 'before',
        // or a first run of this test alone is answered with a reset instead of a replay.
        await Hub.InvalidateAsync("shape:warm-up");
        var before = DateTime.UtcNow.AddMilliseconds(-1);
        await Hub.InvalidateAsync("shape:1", "shape:other");
        var token = AuthFixture.Token();

        // The endpoint the page configured (its own parameters joined by '&'), then the client's '?since='.
        await using var client = await SseClient.ConnectAsync(fixture.Http, $"/api/cache-events?tags=shape:1&access_token={token}?since={before:O}");
        Assert.Equal("connected", (await client.NextAsync("connected with ?tags=…&access_token=…?since=…")).EventType);
        var replayed = await client.NextAsync("the replay of what was missed since the page's last fetch");
        await Hub.InvalidateAsync("shape:other");
        await Hub.InvalidateAsync("shape:1");
        var live = await client.NextAsync("the live event after the replay");

        Assert.Equal(("invalidate", "shape:1"), (replayed.EventType, replayed.Data));
        Assert.Equal(("invalidate", "shape:1"), (live.EventType, live.Data));
    }

    [Fact]
    public async Task Format_json_then_question_mark_since_selects_the_json_format()
    {
        await using var client = await SseClient.ConnectAsync(
            fixture.Http, $"/api/cache-events?format=json?tags=shape-json:*?since={DateTime.UtcNow:O}?access_token={AuthFixture.Token()}");
        Assert.Equal("connected", (await client.NextAsync("connected")).EventType);

        await Hub.InvalidateAsync("shape-json:1");
        var invalidate = await client.NextAsync("the invalidation in JSON");

        Assert.Equal(["shape-json:1"], JsonSerializer.Deserialize<string[]>(invalidate.Data)!);
    }

    [Fact]
    public async Task An_encoded_question_mark_stays_part_of_the_value()
    {
        // '%3F' is a literal '?' inside the tag: the interest is "q%3Fsince=x"'s decoded form, one tag, not two parameters.
        await using var client = await SseClient.ConnectAsync(fixture.Http, $"/api/cache-events?access_token={AuthFixture.Token()}&tags=q%3Fsince=x");
        Assert.Equal("connected", (await client.NextAsync("connected")).EventType);

        await Hub.InvalidateAsync("q?since=x");
        var invalidate = await client.NextAsync("the invalidation of the tag with a '?'");

        Assert.Equal("q?since=x", invalidate.Data);
    }

    [Fact]
    public async Task An_event_source_style_client_reconnects_with_the_client_s_url_shapes()
    {
        var endpoint = $"/api/cache-events?tags=reload:*&access_token={AuthFixture.Token()}";

        // Page load 1: new EventSource(endpoint). It sees an event and remembers when it last fetched.
        var (first, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, endpoint);
        await Hub.InvalidateAsync("reload:0");
        var seen = await first.NextAsync("page 1's event");
        var lastFetch = DateTime.UtcNow;
        await first.DisposeAsync();

        await Hub.InvalidateAsync("reload:1");

        // Page load 2: new EventSource(endpoint + '?since=' + lastFetch), as the client builds it.
        var url = $"{endpoint}?since={lastFetch.AddMilliseconds(-1):O}";
        var (second, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, url);
        var caughtUp = await second.NextAsync("page 2's replay since its last fetch");
        await Hub.InvalidateAsync("reload:2");
        var live = await second.NextAsync("page 2's live event");
        await second.DisposeAsync();

        await Hub.InvalidateAsync("reload:3");

        // The browser's own reconnect: the same URL, plus Last-Event-ID, which wins over since.
        await using var third = await SseClient.ConnectAsync(fixture.Http, url, configure: r => r.Headers.Add("Last-Event-ID", live.EventId));
        Assert.Equal("connected", (await third.NextAsync("connected after the native reconnect")).EventType);
        var resumed = await third.NextAsync("the replay after Last-Event-ID");

        Assert.Equal("reload:0", seen.Data);
        Assert.Equal(("invalidate", "reload:1"), (caughtUp.EventType, caughtUp.Data));
        Assert.Equal("reload:2", live.Data);
        Assert.Equal(("invalidate", "reload:3"), (resumed.EventType, resumed.Data));
    }
}
