using System.Net;
using System.Text;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Security;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Security;

/// <summary>An authenticated hub where one credential may hold three streams and listen to five distinct tags.</summary>
public sealed class FairShareFixture : FrontendFixture
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("CountCachula:Auth:Enabled", "true"),
        new("CountCachula:Auth:SigningKey", AuthFixture.Key),
        new("CountCachula:MaxConnectionsPerCredential", "3"),
        new("CountCachula:MaxListenedTagsPerCredential", "5"),
    ];

    public static string Token(string? subject, string[]? tags = null) =>
        CountCachulaAccess.MintToken(AuthFixture.Key, "default", TimeSpan.FromMinutes(10), tags ?? ["*"], subject: subject);
}

/// <summary>
/// One credential (a token's subject, or the token itself without one) gets a fair share of its tenant: it cannot hold
/// every stream or spend the tenant's tag budget, the 429 names the credential's limit, others are unaffected, and a
/// stream can always shrink.
/// </summary>
public sealed class FairShareTests(FairShareFixture fixture) : IClassFixture<FairShareFixture>
{
    [Fact]
    public async Task A_credential_beyond_its_stream_share_gets_429_naming_it_while_another_user_still_connects()
    {
        var token = FairShareFixture.Token("user:streams");
        var held = new List<SseClient>();
        for (var i = 0; i < 3; i++)
        {
            held.Add((await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=s:{i}&access_token={token}")).Client);
        }

        using var refused = await OpenAsync($"/api/cache-events?tags=s:0&access_token={token}");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Contains("CountCachula:MaxConnectionsPerCredential = 3", await refused.Content.ReadAsStringAsync());

        // Another subject of the same tenant is not held back by it.
        var (other, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=s:0&access_token={FairShareFixture.Token("user:other")}");
        await other.DisposeAsync();

        // Closing one of its streams gives the credential its slot back.
        var released = fixture.Get<ConnectionLimits>().WhenReleased();
        await held[0].DisposeAsync();
        await released.WaitAsync(Timeouts.Default);
        held[0] = (await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=s:0&access_token={token}")).Client;
        foreach (var stream in held)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_token_without_a_subject_is_its_own_credential()
    {
        var shared = FairShareFixture.Token(subject: null, tags: ["anon:*"]);
        var held = new List<SseClient>();
        for (var i = 0; i < 3; i++)
        {
            held.Add((await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=anon:a&access_token={shared}")).Client);
        }

        using var refused = await OpenAsync($"/api/cache-events?tags=anon:a&access_token={shared}");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Contains("MaxConnectionsPerCredential", await refused.Content.ReadAsStringAsync());
        foreach (var stream in held)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_credential_cannot_listen_beyond_its_tag_share_but_can_reuse_and_shrink_and_others_keep_their_budget()
    {
        var token = FairShareFixture.Token("user:tags");
        var (first, firstId) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=t:1,t:2,t:3,t:4,t:5&access_token={token}");
        await using var _ = first;

        // A sixth distinct tag on a new stream is over its share; the tags it already listens to cost nothing.
        using var refused = await OpenAsync($"/api/cache-events?tags=t:6&access_token={token}");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var why = await refused.Content.ReadAsStringAsync();
        Assert.Contains("CountCachula:MaxListenedTagsPerCredential = 5", why);
        Assert.Contains("Too many distinct tags for this credential", why);
        var (again, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=t:1,t:5&access_token={token}");
        await again.DisposeAsync();

        // Adding to the open stream is refused the same way.
        using var grow = await ChangeAsync(first, firstId, """{"add":["t:6"]}""");
        Assert.Equal(HttpStatusCode.TooManyRequests, grow.StatusCode);

        // A user of the same tenant still listens to tags of its own.
        var (other, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=t:6,t:7&access_token={FairShareFixture.Token("user:neighbour")}");
        await other.DisposeAsync();

        // Shrinking always works, and what it gave back can be spent again.
        using var shrink = await ChangeAsync(first, firstId, """{"remove":["t:5"]}""");
        Assert.Equal(HttpStatusCode.OK, shrink.StatusCode);
        using var swap = await ChangeAsync(first, firstId, """{"add":["t:6"]}""");
        Assert.Equal(HttpStatusCode.OK, swap.StatusCode);
    }

    [Fact]
    public async Task A_token_granting_more_patterns_than_a_stream_may_hold_is_refused_with_400_when_it_opens_without_tags()
    {
        var wide = FairShareFixture.Token("user:wide", [.. Enumerable.Range(0, 1_001).Select(i => $"w:{i}")]);

        // In the header: a token this wide does not fit in a request line.
        using var refused = await OpenAsync("/api/cache-events", wide);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("grants 1001 tag patterns and a stream may hold at most 1000", await refused.Content.ReadAsStringAsync());
    }

    private async Task<HttpResponseMessage> OpenAsync(string path, string? bearer = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (bearer is not null)
        {
            request.Headers.Authorization = new("Bearer", bearer);
        }

        using var timeout = new CancellationTokenSource(Timeouts.Default);
        var response = await fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        return response;
    }

    private async Task<HttpResponseMessage> ChangeAsync(SseClient stream, string id, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/cache-events/{id}/interests")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Stream-Key", stream.StreamKey);
        request.Headers.Authorization = new("Bearer", FairShareFixture.Token("user:tags"));
        return await fixture.Http.SendAsync(request);
    }
}
