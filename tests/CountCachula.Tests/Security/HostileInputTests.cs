using System.Net;
using System.Text;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Security;

/// <summary>A development hub (no credentials) that serves two named tenants.</summary>
public sealed class HostileFixture : FrontendFixture
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("CountCachula:Tenants:0", "default"),
        new("CountCachula:Tenants:1", "globex"),
    ];
}

/// <summary>
/// Each kind of hostile request gets a clear 4xx RFC 7807 answer naming what was wrong, and afterwards the hub still
/// serves a subscriber and a publish as before. (Credential cases are in <see cref="AuthMatrixTests"/>.)
/// </summary>
public sealed class HostileInputTests(HostileFixture fixture) : IClassFixture<HostileFixture>
{
    private static readonly string TenThousandTags = string.Join(',', Enumerable.Range(0, 10_000).Select(i => $"\"t{i}\""));

    public static TheoryData<string, string, string, string?, string?, HttpStatusCode, string> Cases => new()
    {
        // name, method, path, JSON body (null: none), extra header "Name: value", expected status, text the answer must hold
        { "CR in a subscribed tag", "GET", "/api/cache-events?tags=a%0Db", null, null, HttpStatusCode.BadRequest, "CR, LF or NUL" },
        { "LF in a subscribed tag", "GET", "/api/cache-events?tags=a%0Aevent:%20x", null, null, HttpStatusCode.BadRequest, "CR, LF or NUL" },
        { "NUL in a subscribed tag", "GET", "/api/cache-events?tags=a%00", null, null, HttpStatusCode.BadRequest, "CR, LF or NUL" },
        { "non-UTF-8 in the query", "GET", "/api/cache-events?tags=%FF%FE", null, null, HttpStatusCode.BadRequest, "not valid UTF-8" },
        { "wildcard in the middle", "GET", "/api/cache-events?tags=a*b", null, null, HttpStatusCode.BadRequest, "not at its end" },
        { "unknown format", "GET", "/api/cache-events?format=xml", null, null, HttpStatusCode.BadRequest, "format" },
        { "malformed tenant", "GET", "/api/cache-events?tenant=a/b", null, null, HttpStatusCode.BadRequest, "tenant" },
        { "unknown tenant", "GET", "/api/cache-events?tenant=initech", null, null, HttpStatusCode.Forbidden, "Unknown tenant" },
        { "huge Last-Event-ID", "GET", "/api/cache-events", null, "Last-Event-ID: " + new string('9', 10_000), HttpStatusCode.BadRequest, "Last-Event-ID" },
        { "huge lastEventId query", "GET", "/api/cache-events?lastEventId=" + new string('7', 500), null, null, HttpStatusCode.BadRequest, "lastEventId" },
        { "Accept not text/event-stream", "GET", "/api/cache-events", null, "Accept: application/json", HttpStatusCode.NotAcceptable, "text/event-stream" },
        { "method not allowed on the stream", "DELETE", "/api/cache-events", null, null, HttpStatusCode.MethodNotAllowed, "405" },
        { "method not allowed on publish", "GET", "/api/cache/invalidate", null, null, HttpStatusCode.MethodNotAllowed, "405" },
        { "CR LF in a published tag", "POST", "/api/cache/invalidate", """{"tags":["ok","bad\r\nevent: forged"]}""", null, HttpStatusCode.BadRequest, "tags[1]" },
        { "NUL in a published tag", "POST", "/api/cache/invalidate", """{"tags":["\u0000"]}""", null, HttpStatusCode.BadRequest, "CR, LF or NUL" },
        { "LF in a preload route", "POST", "/api/cache/preload", """{"routes":["/a\n/b"]}""", null, HttpStatusCode.BadRequest, "routes[0]" },
        { "CR in a custom event name", "POST", "/api/cache/broadcast", """{"event":"x\rdata: y","data":"z"}""", null, HttpStatusCode.BadRequest, "event" },
        { "reserved custom event name", "POST", "/api/cache/broadcast", """{"event":"connected","data":"z"}""", null, HttpStatusCode.BadRequest, "the hub sends itself" },
        { "10,000 tags", "POST", "/api/cache/invalidate", "{\"tags\":[" + TenThousandTags + "]}", null, HttpStatusCode.BadRequest, "at most 1000" },
        { "1 MB body", "POST", "/api/cache/invalidate", "{\"tags\":[\"" + new string('a', 1024 * 1024) + "\"]}", null, HttpStatusCode.RequestEntityTooLarge, "exceeds" },
        { "malformed JSON", "POST", "/api/cache/invalidate", """{"tags":["a",""", null, HttpStatusCode.BadRequest, "Malformed JSON" },
        { "JSON null", "POST", "/api/cache/invalidate", "null", null, HttpStatusCode.BadRequest, "Malformed JSON" },
        { "wrong JSON shape", "POST", "/api/cache/invalidate", """{"tags":"a"}""", null, HttpStatusCode.BadRequest, "Malformed JSON" },
        { "unknown tenant on publish", "POST", "/api/cache/invalidate?tenant=initech", """{"tags":["a"]}""", null, HttpStatusCode.Forbidden, "Unknown tenant" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Hostile_request_gets_a_clear_problem_and_the_hub_keeps_serving(
        string name, string method, string path, string? body, string? header, HttpStatusCode expected, string mentions)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        if (header is not null)
        {
            var colon = header.IndexOf(':');
            request.Headers.TryAddWithoutValidation(header[..colon], header[(colon + 2)..]);
        }

        if (method == "GET" && path.StartsWith("/api/cache-events", StringComparison.Ordinal) && header?.StartsWith("Accept", StringComparison.Ordinal) != true)
        {
            request.Headers.Accept.ParseAdd("text/event-stream");
        }

        // Bounded: were a hostile request ever admitted as a stream, reading it would not end on its own.
        using var timeout = new CancellationTokenSource(Timeouts.Default);
        using var response = await fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.True(expected == response.StatusCode, $"{name}: expected {expected}, got {response.StatusCode}");
        var text = await response.Content.ReadAsStringAsync(timeout.Token);
        Assert.True(expected == response.StatusCode, $"{name}: expected {expected}, got {response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(mentions, text);
        // Hostile values may be echoed in the JSON problem, escaped; never as a line of an event stream.
        Assert.DoesNotContain("\nevent:", text);

        // Nothing broke: a subscriber still connects and receives the next publish.
        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events");
        await client.NextOfTypeAsync("connected", $"{name}: connecting afterwards");
        await client.SyncAsync(fixture.Get<ICacheHub>());
    }

    [Fact]
    public async Task Ten_thousand_interests_for_an_open_stream_are_refused_and_the_stream_keeps_its_own()
    {
        var (client, id) = await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?tags=mine");
        await using var _ = client;
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/cache-events/{id}/interests")
        {
            Content = new StringContent("{\"add\":[" + TenThousandTags + "]}", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Stream-Key", client.StreamKey);
        using var response = await fixture.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("at most 1000 interests", await response.Content.ReadAsStringAsync());

        await fixture.Get<ICacheHub>().InvalidateAsync("t1", "mine");
        Assert.Equal("mine", (await client.NextOfTypeAsync("invalidate", "the stream still holds only its own interest")).Data);
    }

    [Theory]
    [InlineData("""{"add":[null]}""", "add[0] is null")]
    [InlineData("""{"add":["ok",null]}""", "add[1] is null")]
    [InlineData("""{"remove":[null]}""", "remove[0] is null")]
    [InlineData("""{"add":[5]}""", "Malformed JSON")]
    [InlineData("""{"add":[{"tag":"x"}]}""", "Malformed JSON")]
    public async Task A_null_or_non_string_interest_is_a_400_naming_it_and_the_stream_keeps_its_own(string body, string mentions)
    {
        var (client, id) = await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?tags=kept");
        await using var _ = client;
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/cache-events/{id}/interests")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Stream-Key", client.StreamKey);

        using var response = await fixture.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(mentions, await response.Content.ReadAsStringAsync());
        await fixture.Get<ICacheHub>().InvalidateAsync("kept");
        Assert.Equal("kept", (await client.NextOfTypeAsync("invalidate", "the stream still holds its interest")).Data);
    }

    [Fact]
    public async Task Invalid_UTF8_in_a_published_body_is_malformed_JSON()
    {
        var bytes = "{\"tags\":[\""u8.ToArray().Concat(new byte[] { 0xC3, 0x28, 0xFF }).Concat("\"]}"u8.ToArray()).ToArray();
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await fixture.Http.PostAsync("/api/cache/invalidate", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Malformed JSON", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_10000_tag_query_string_is_refused_by_the_server_before_the_app()
    {
        // Kestrel caps the request line at 8 KB: a stream asking for 10,000 tags in its URL never reaches the app.
        var tags = string.Join(',', Enumerable.Range(0, 10_000).Select(i => $"t{i}"));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events?tags=" + tags);
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await fixture.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestUriTooLong, response.StatusCode);
    }
}
