using System.Net;
using System.Net.Http.Headers;
using System.Text;
using CountCachula.Tests.Infrastructure;
using CountCachula.WebFrontend.Hosting;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Security;

namespace CountCachula.Tests.Security;

/// <summary>A hub with auth on (as outside Development): two known tenants, one publisher API key.</summary>
public sealed class AuthFixture : FrontendFixture
{
    public const string Key = "test-signing-key-with-32-bytes-or-more";
    public const string OtherKey = "another-key-nobody-configured-here!!";
    public const string ApiKey = "acme-publisher-api-key";

    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("CountCachula:Auth:Enabled", "true"),
        new("CountCachula:Auth:SigningKey", Key),
        new("CountCachula:Auth:ApiKeys:0:Key", ApiKey),
        new("CountCachula:Auth:ApiKeys:0:Tenant", "acme"),
        new("CountCachula:Tenants:0", "acme"),
        new("CountCachula:Tenants:1", "globex"),
    ];

    /// <summary>A token for <paramref name="tenant"/>; without <paramref name="tags"/> it may listen to every tag ("*").</summary>
    public static string Token(string tenant = "acme", double minutes = 10, string[]? tags = null, bool publish = false, string key = Key, bool admin = false) =>
        CountCachulaAccess.MintToken(key, tenant, TimeSpan.FromMinutes(minutes), tags ?? ["*"], publish, admin: admin);
}

/// <summary>
/// Every credential case on subscribe and on publish: the status and title the caller gets, that a refused
/// subscriber is sent no event, and that the stream of an admitted one ends when its token expires.
/// </summary>
public sealed class AuthMatrixTests(AuthFixture fixture) : IClassFixture<AuthFixture>
{
    public static TheoryData<string, string, HttpStatusCode, string> SubscribeCases => new()
    {
        { "no credential", "", HttpStatusCode.Unauthorized, "Credentials required" },
        { "garbage token", "header:not-a-jwt", HttpStatusCode.Unauthorized, "Invalid token" },
        { "forged (other key)", "header:" + AuthFixture.Token(key: AuthFixture.OtherKey), HttpStatusCode.Unauthorized, "Bad token signature" },
        { "expired", "header:" + AuthFixture.Token(minutes: -5), HttpStatusCode.Unauthorized, "Token expired" },
        { "wrong tenant asked", "query:" + AuthFixture.Token() + "&tenant=globex", HttpStatusCode.Forbidden, "Wrong tenant" },
        { "unknown tenant", "header:" + AuthFixture.Token(tenant: "initech"), HttpStatusCode.Forbidden, "Unknown tenant" },
        { "interest outside scope", "header:" + AuthFixture.Token(tags: ["user:*"]) + "|tags=posts:1", HttpStatusCode.Forbidden, "Interest outside the token's scope" },
        { "wider pattern than scope", "header:" + AuthFixture.Token(tags: ["user:1*"]) + "|tags=user:*", HttpStatusCode.Forbidden, "Interest outside the token's scope" },
        { "header", "header:" + AuthFixture.Token(), HttpStatusCode.OK, "" },
        { "cookie", "cookie:" + AuthFixture.Token(), HttpStatusCode.OK, "" },
        { "access_token query", "query:" + AuthFixture.Token(), HttpStatusCode.OK, "" },
        { "interest inside scope", "header:" + AuthFixture.Token(tags: ["user:*"]) + "|tags=user:1,user:2*", HttpStatusCode.OK, "" },
    };

    [Theory]
    [MemberData(nameof(SubscribeCases))]
    public async Task Subscribe(string name, string credential, HttpStatusCode expected, string title)
    {
        var (where, token, tags) = Split(credential);
        var path = "/api/cache-events" + (tags is null ? "" : "?" + tags);
        using var request = new HttpRequestMessage(HttpMethod.Get, where == "query" ? path + (path.Contains('?') ? "&" : "?") + "access_token=" + token : path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (where == "header")
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        else if (where == "cookie")
        {
            request.Headers.Add("Cookie", "countcachula_token=" + token);
        }

        using var response = await fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.True(expected == response.StatusCode, $"{name}: expected {expected}, got {response.StatusCode}");
        if (expected == HttpStatusCode.OK)
        {
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            return;
        }

        // A refused subscriber gets a problem description and not one byte of the stream.
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains($"\"title\":\"{title}\"", body);
        Assert.DoesNotContain("event:", body);
        if (expected == HttpStatusCode.Unauthorized)
        {
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
        }
    }

    public static TheoryData<string, string, HttpStatusCode, string> PublishCases => new()
    {
        { "no credential", "", HttpStatusCode.Unauthorized, "Credentials required" },
        { "subscriber token", "bearer:" + AuthFixture.Token(), HttpStatusCode.Forbidden, "Not a publisher" },
        { "expired publisher token", "bearer:" + AuthFixture.Token(minutes: -5, publish: true), HttpStatusCode.Unauthorized, "Token expired" },
        { "forged publisher token", "bearer:" + AuthFixture.Token(publish: true, key: AuthFixture.OtherKey), HttpStatusCode.Unauthorized, "Bad token signature" },
        { "unknown API key", "apikey:not-the-configured-key", HttpStatusCode.Unauthorized, "Unknown API key" },
        { "API key, other tenant asked", "apikey:" + AuthFixture.ApiKey + "|tenant=globex", HttpStatusCode.Forbidden, "Wrong tenant" },
        { "publisher token, unknown tenant", "bearer:" + AuthFixture.Token(tenant: "initech", publish: true), HttpStatusCode.Forbidden, "Unknown tenant" },
        { "publisher token", "bearer:" + AuthFixture.Token(publish: true), HttpStatusCode.Accepted, "" },
        { "API key", "apikey:" + AuthFixture.ApiKey, HttpStatusCode.Accepted, "" },
    };

    [Theory]
    [MemberData(nameof(PublishCases))]
    public async Task Publish(string name, string credential, HttpStatusCode expected, string title)
    {
        var (where, secret, query) = Split(credential);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/cache/invalidate" + (query is null ? "" : "?" + query))
        {
            Content = new StringContent("""{"tags":["auth-matrix"]}""", Encoding.UTF8, "application/json"),
        };
        if (where == "bearer")
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        }
        else if (where == "apikey")
        {
            request.Headers.Add("X-Api-Key", secret);
        }

        using var response = await fixture.Http.SendAsync(request);
        Assert.True(expected == response.StatusCode, $"{name}: expected {expected}, got {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        if (expected != HttpStatusCode.Accepted)
        {
            Assert.Contains($"\"title\":\"{title}\"", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task A_publisher_reaches_only_its_own_tenant_and_a_scoped_token_only_its_tags()
    {
        await using var acme = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?access_token=" + AuthFixture.Token(tags: ["user:*"]));
        await using var globex = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?access_token=" + AuthFixture.Token(tenant: "globex"));
        await acme.NextOfTypeAsync("connected", "acme connected");
        await globex.NextOfTypeAsync("connected", "globex connected");

        // The API key belongs to acme: the invalidation goes to acme's hub only, cut to the scoped token's tags.
        using var publish = new HttpRequestMessage(HttpMethod.Post, "/api/cache/invalidate")
        {
            Content = new StringContent("""{"tags":["user:7","posts:1"]}""", Encoding.UTF8, "application/json"),
        };
        publish.Headers.Add("X-Api-Key", AuthFixture.ApiKey);
        Assert.Equal(HttpStatusCode.Accepted, (await fixture.Http.SendAsync(publish)).StatusCode);
        Assert.Equal("user:7", (await acme.NextOfTypeAsync("invalidate", "acme gets its scoped tag")).Data);

        // globex saw nothing of it: the next thing it gets is globex's own sentinel.
        await fixture.Get<ICacheHub>().ForTenant("globex").InvalidateAsync("globex-sentinel");
        Assert.Equal("globex-sentinel", (await globex.NextOfTypeAsync("invalidate", "globex sentinel")).Data);
    }

    [Fact]
    public async Task When_the_token_expires_the_stream_says_so_and_ends()
    {
        var token = CountCachulaAccess.MintToken(AuthFixture.Key, "acme", TimeSpan.FromSeconds(2), ["*"]);
        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?access_token=" + token);
        await client.NextOfTypeAsync("connected", "connected with a 2 s token");

        var expired = await client.NextOfTypeAsync("auth-expired", "waiting for the token to expire", TimeSpan.FromSeconds(15));
        Assert.Contains("token-expired", expired.Data);
        await client.Completion.WaitAsync(Timeouts.Default);
    }

    private static (string Where, string Secret, string? Extra) Split(string credential)
    {
        if (credential.Length == 0)
        {
            return ("", "", null);
        }

        var colon = credential.IndexOf(':');
        var rest = credential[(colon + 1)..];
        var bar = rest.IndexOf('|');
        return bar < 0 ? (credential[..colon], rest, null) : (credential[..colon], rest[..bar], rest[(bar + 1)..]);
    }
}
