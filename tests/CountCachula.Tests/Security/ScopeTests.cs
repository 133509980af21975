using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Security;

/// <summary>
/// Scopes fail closed: a token whose <c>tags</c> claim is absent, empty, <c>null</c> or an empty array may listen to
/// nothing; only an explicit <c>*</c> reaches every tag of the tenant.
/// </summary>
public sealed class ScopeTests(AuthFixture fixture) : IClassFixture<AuthFixture>
{
    public static TheoryData<string, string> EmptyScopes => new()
    {
        { "empty array", "\"tags\":[]," },
        { "empty string", "\"tags\":\"\"," },
        { "null", "\"tags\":null," },
        { "missing", "" },
        { "only separators", "\"tags\":\" , \"," },
    };

    [Theory]
    [MemberData(nameof(EmptyScopes))]
    public async Task A_token_with_an_empty_scope_may_listen_to_nothing(string name, string tagsClaim)
    {
        var token = Jwt(tagsClaim);

        using var all = await SubscribeAsync(token, "");
        using var star = await SubscribeAsync(token, "?tags=*");
        using var one = await SubscribeAsync(token, "?tags=payroll:ceo");

        Assert.True(all.StatusCode == HttpStatusCode.Forbidden, $"{name}: expected 403 without ?tags=, got {all.StatusCode}");
        Assert.Contains("\"title\":\"Token grants no tags\"", await all.Content.ReadAsStringAsync());
        foreach (var refused in new[] { star, one })
        {
            Assert.True(refused.StatusCode == HttpStatusCode.Forbidden, $"{name}: expected 403 for ?tags=, got {refused.StatusCode}");
            var body = await refused.Content.ReadAsStringAsync();
            Assert.Contains("\"title\":\"Interest outside the token's scope\"", body);
            Assert.Contains("allows: nothing", body);
        }
    }

    [Theory]
    [InlineData("\"tags\":\"*\",")]
    [InlineData("\"tags\":[\"*\"],")]
    public async Task Only_an_explicit_star_reaches_every_tag(string tagsClaim)
    {
        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?access_token=" + Jwt(tagsClaim));
        await client.NextOfTypeAsync("connected", "connected with a '*' token");

        await fixture.Get<ICacheHub>().ForTenant("acme").InvalidateAsync("payroll:ceo");

        Assert.Equal("payroll:ceo", (await client.NextOfTypeAsync("invalidate", "the '*' token's stream gets every tag")).Data);
    }

    [Fact]
    public async Task A_scope_that_is_not_a_tag_pattern_is_refused()
    {
        using var response = await SubscribeAsync(Jwt("\"tags\":\"a*b\","), "");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("\"title\":\"Unreadable token scope\"", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_hint_or_custom_event_without_scope_reaches_only_streams_granted_every_tag_unless_marked_public()
    {
        var hub = fixture.Get<IGrainFactory>().GetGrain<ICacheHubGrain>("acme");
        var (limited, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?access_token={AuthFixture.Token(tags: ["unscoped:*"])}");
        var (everything, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=unscoped:*&access_token={AuthFixture.Token()}");
        await using var _ = limited;
        await using var __ = everything;

        await hub.Publish(CachePublication.Custom("profile", """{"email":"victim@example.com"}"""));
        await hub.Publish(CachePublication.PreloadHint(["/api/private"]));
        await hub.Publish(CachePublication.Custom("notice", "for everyone") with { Public = true });
        await hub.Publish(CachePublication.PreloadHint(["/api/public"]) with { Public = true });
        await hub.Invalidate(["unscoped:end"]);

        // Granted '*': everything, in order. Granted 'unscoped:*' only: the public ones, then its invalidation.
        Assert.Equal(
            ["profile", "preload-hint", "notice", "preload-hint", "invalidate"],
            await TypesUntilAsync(everything, "unscoped:end"));
        Assert.Equal(["notice", "preload-hint", "invalidate"], await TypesUntilAsync(limited, "unscoped:end"));
    }

    [Fact]
    public async Task A_replayed_custom_event_without_scope_skips_a_stream_not_granted_every_tag()
    {
        var hub = fixture.Get<IGrainFactory>().GetGrain<ICacheHubGrain>("acme");
        var token = AuthFixture.Token(tags: ["replayed:*"]);
        var (probe, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?access_token={token}");
        await hub.Invalidate(["replayed:start"]);
        var start = await probe.NextOfTypeAsync("invalidate", "the resume point");
        await probe.DisposeAsync();

        await hub.Publish(CachePublication.Custom("secret", "not for a limited token"));
        await hub.Publish(CachePublication.Custom("announcement", "for anyone") with { Public = true });
        await hub.Invalidate(["replayed:end"]);
        await using var resumed = await SseClient.ConnectAsync(fixture.Http, $"/api/cache-events?access_token={token}",
            configure: request => request.Headers.Add("Last-Event-ID", start.EventId));

        Assert.Equal(["connected", "announcement", "invalidate"], await TypesUntilAsync(resumed, "replayed:end"));
    }

    private static async Task<List<string>> TypesUntilAsync(SseClient client, string lastTag)
    {
        var types = new List<string>();
        while (true)
        {
            var next = await client.NextAsync($"events up to {lastTag}");
            types.Add(next.EventType);
            if (next.EventType == "invalidate" && next.Data == lastTag)
            {
                return types;
            }
        }
    }

    private async Task<HttpResponseMessage> SubscribeAsync(string token, string query)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events" + query);
        request.Headers.Accept.ParseAdd("text/event-stream");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    /// <summary>A token signed with the hub's key whose payload holds exactly <paramref name="tagsClaim"/> as written.</summary>
    private static string Jwt(string tagsClaim)
    {
        var expires = DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeSeconds();
        var header = Base64Url("""{"alg":"HS256","typ":"JWT"}""");
        var payload = Base64Url($$"""{"tenant":"acme",{{tagsClaim}}"scope":"subscribe","exp":{{expires}}}""");
        var signature = HMACSHA256.HashData(Encoding.UTF8.GetBytes(AuthFixture.Key), Encoding.ASCII.GetBytes(header + "." + payload));
        return header + "." + payload + "." + Base64Url(signature);
    }

    private static string Base64Url(string text) => Base64Url(Encoding.UTF8.GetBytes(text));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
