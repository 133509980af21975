using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Security;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Security;

/// <summary>
/// A hub (auth on) that accepts tokens from two OpenID Connect providers served in the test and, beside them, its own
/// HS256 tokens. <c>acme</c>'s provider is <c>Auth:Authority</c> with its own claim names (<c>org</c> for the tenant,
/// <c>cache_tags</c> for the tags); <c>globex</c>'s is bound to its tenant and grants tags through its <c>scope</c>.
/// </summary>
public sealed class OidcFixture : IAsyncLifetime
{
    public const string Audience = "countcachula";

    private TestFrontend? _frontend;

    public TestIdentityProvider Acme { get; private set; } = null!;

    public TestIdentityProvider Globex { get; private set; } = null!;

    public TestSigningKey AcmeRsa { get; } = TestSigningKey.Rsa("acme-rsa-1");

    public TestSigningKey AcmeEcdsa { get; } = TestSigningKey.EcdsaP256("acme-ec-1");

    public TestSigningKey GlobexRsa { get; } = TestSigningKey.Rsa("globex-rsa-1");

    public TestFrontend Frontend => _frontend ?? throw new InvalidOperationException("The frontend has not started.");

    public HttpClient Http => Frontend.Http;

    public ICacheHub Hub => Frontend.Get<ICacheHub>();

    /// <summary>An <c>acme</c> token as its provider writes one: tenant in <c>org</c>, tags in <c>cache_tags</c>.</summary>
    public string AcmeToken(string[] tags, TestSigningKey? key = null, Dictionary<string, object>? more = null) =>
        Acme.Issue(key ?? AcmeRsa, Audience, new Dictionary<string, object>(more ?? new Dictionary<string, object>()) { ["org"] = "acme", ["cache_tags"] = tags, ["sub"] = "user-1" });

    /// <summary>A <c>globex</c> token: no tenant claim is needed (the provider is bound to it), tags in its <c>scope</c>.</summary>
    public string GlobexToken(string scope, Dictionary<string, object>? more = null) =>
        Globex.Issue(GlobexRsa, Audience, new Dictionary<string, object>(more ?? new Dictionary<string, object>()) { ["scope"] = scope, ["sub"] = "user-2" });

    public async Task InitializeAsync()
    {
        Acme = await TestIdentityProvider.StartAsync();
        Acme.Publish(AcmeRsa, AcmeEcdsa);
        Globex = await TestIdentityProvider.StartAsync();
        Globex.Publish(GlobexRsa);
        _frontend = await TestFrontend.StartAsync("oidc-" + Guid.NewGuid().ToString("N")[..8], settings:
        [
            new("CountCachula:Auth:Enabled", "true"),
            new("CountCachula:Auth:SigningKey", AuthFixture.Key),
            new("CountCachula:Auth:Audience", Audience),
            new("CountCachula:Auth:RequireHttpsMetadata", "false"),
            new("CountCachula:Auth:Authority", Acme.Authority),
            new("CountCachula:Auth:TenantClaim", "org"),
            new("CountCachula:Auth:TagsClaim", "cache_tags"),
            new("CountCachula:Auth:Authorities:0:Authority", Globex.Authority),
            new("CountCachula:Auth:Authorities:0:Tenant", "globex"),
            new("CountCachula:Auth:Authorities:0:TagsClaim", "scope"),
            new("CountCachula:Auth:Authorities:0:TagsPrefix", "cache:"),
            new("CountCachula:Tenants:0", "acme"),
            new("CountCachula:Tenants:1", "globex"),
        ]);
    }

    public async Task DisposeAsync()
    {
        if (_frontend is not null)
        {
            await _frontend.DisposeAsync();
        }

        await Acme.DisposeAsync();
        await Globex.DisposeAsync();
    }
}

/// <summary>
/// Tokens from an OpenID Connect provider: RS256 and ES256 from its published keys, its audience and issuer and
/// lifetime enforced, its claims mapped to tenant and tags as configured, and the hub's own HS256 tokens still accepted.
/// </summary>
public sealed class OidcTests(OidcFixture fixture) : IClassFixture<OidcFixture>
{
    [Theory]
    [InlineData("RS256")]
    [InlineData("ES256")]
    public async Task A_provider_token_opens_a_stream(string algorithm)
    {
        var token = fixture.AcmeToken(["user:*"], algorithm == "ES256" ? fixture.AcmeEcdsa : fixture.AcmeRsa);

        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?access_token=" + token);
        await client.NextOfTypeAsync("connected", $"connected with an {algorithm} token");
        await fixture.Hub.ForTenant("acme").InvalidateAsync("user:1");

        Assert.Equal("user:1", (await client.NextOfTypeAsync("invalidate", "the provider token's stream gets its tag")).Data);
    }

    public static TheoryData<string, string> RefusedCases => new()
    {
        { "wrong audience", "Wrong token audience" },
        { "wrong issuer", "Wrong token issuer" },
        { "expired", "Token expired" },
        { "forged with the provider's kid", "Bad token signature" },
        { "another provider's key", "Bad token signature" },
        { "alg none claiming the provider", "Bad token signature" },
        { "HS256 with the hub's key claiming the provider", "Bad token signature" },
    };

    [Theory]
    [MemberData(nameof(RefusedCases))]
    public async Task A_token_the_provider_did_not_issue_for_this_hub_is_refused(string name, string title)
    {
        var claims = new Dictionary<string, object> { ["org"] = "acme", ["cache_tags"] = new[] { "*" } };
        var acme = fixture.Acme;
        var token = name switch
        {
            "wrong audience" => acme.Issue(fixture.AcmeRsa, "some-other-app", claims),
            "wrong issuer" => acme.Issue(fixture.AcmeRsa, OidcFixture.Audience, claims, issuer: "http://127.0.0.1:9/realms/elsewhere"),
            "expired" => acme.Issue(fixture.AcmeRsa, OidcFixture.Audience, claims, lifetime: TimeSpan.FromMinutes(-5)),
            "forged with the provider's kid" => acme.Issue(fixture.AcmeRsa.Impostor(), OidcFixture.Audience, claims),
            "another provider's key" => acme.Issue(fixture.GlobexRsa, OidcFixture.Audience, claims),
            "alg none claiming the provider" => Unsigned(acme.Issuer),
            _ => HmacSigned(acme.Issuer, AuthFixture.Key),
        };

        using var response = await SubscribeAsync(token);

        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{name}: expected 401, got {response.StatusCode}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains($"\"title\":\"{title}\"", body);
        Assert.DoesNotContain("event:", body);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task The_configured_claims_decide_tenant_and_tags_and_look_alike_claims_count_for_nothing()
    {
        // 'tenant' and 'tags' are not the claims this provider is read by: they cannot widen the token.
        var token = fixture.AcmeToken(["user:*"], more: new() { ["tenant"] = "globex", ["tags"] = "*" });

        using var otherTenant = await SubscribeAsync(token, "?tenant=globex");
        using var outside = await SubscribeAsync(token, "?tags=posts:1");
        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?access_token=" + token);
        await client.NextOfTypeAsync("connected", "connected with custom claim names");
        await fixture.Hub.ForTenant("globex").InvalidateAsync("user:1");
        await fixture.Hub.ForTenant("acme").InvalidateAsync("posts:1", "user:7");

        Assert.Equal(HttpStatusCode.Forbidden, otherTenant.StatusCode);
        Assert.Contains("\"title\":\"Wrong tenant\"", await otherTenant.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Forbidden, outside.StatusCode);
        Assert.Contains("\"title\":\"Interest outside the token's scope\"", await outside.Content.ReadAsStringAsync());
        Assert.Equal("user:7", (await client.NextOfTypeAsync("invalidate", "only acme's user:* tags arrive")).Data);
    }

    [Fact]
    public async Task A_scope_claim_grants_its_prefixed_entries_and_the_provider_names_the_tenant()
    {
        // globex's provider is bound to globex: a 'tenant' claim cannot take its tokens to acme.
        var token = fixture.GlobexToken("openid profile cache:orders:* cache:users:1 email", new() { ["tenant"] = "acme" });

        using var otherTenant = await SubscribeAsync(token, "?tenant=acme");
        using var outside = await SubscribeAsync(token, "?tags=users:2");
        using var unprefixed = await SubscribeAsync(token, "?tags=openid");
        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?access_token=" + token);
        await client.NextOfTypeAsync("connected", "connected with a scope-style token");
        await fixture.Hub.ForTenant("acme").InvalidateAsync("orders:1");
        await fixture.Hub.ForTenant("globex").InvalidateAsync("openid", "users:2", "orders:7", "profile", "users:1", "cache:orders:8");

        Assert.Equal(HttpStatusCode.Forbidden, otherTenant.StatusCode);
        Assert.Contains("\"title\":\"Wrong tenant\"", await otherTenant.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Forbidden, outside.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, unprefixed.StatusCode);
        var received = await client.NextOfTypeAsync("invalidate", "globex's scoped tags arrive, nothing of acme's");
        Assert.Equal("orders:7,users:1", received.Data);
        Assert.Contains("event: invalidate\ndata: orders:7,users:1\n", client.RawText);
    }

    [Fact]
    public async Task A_provider_token_without_tag_entries_in_its_scope_grants_nothing()
    {
        using var response = await SubscribeAsync(fixture.GlobexToken("openid profile"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("\"title\":\"Token grants no tags\"", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_hubs_own_HS256_tokens_are_accepted_beside_the_provider()
    {
        // Auth:Audience is every token's audience, the hub's own included.
        var token = CountCachulaAccess.MintToken(AuthFixture.Key, "acme", TimeSpan.FromMinutes(10), ["*"], audience: OidcFixture.Audience);
        var withoutAudience = CountCachulaAccess.MintToken(AuthFixture.Key, "acme", TimeSpan.FromMinutes(10), ["*"]);

        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?access_token=" + token);
        await client.NextOfTypeAsync("connected", "connected with a hub-minted token");
        using var refused = await SubscribeAsync(withoutAudience);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("\"title\":\"Wrong token audience\"", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_provider_token_with_the_publish_scope_publishes()
    {
        await using var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?access_token=" + fixture.AcmeToken(["published:*"]));
        await client.NextOfTypeAsync("connected", "a subscriber for the published tag");

        using var publish = new HttpRequestMessage(HttpMethod.Post, "/api/cache/invalidate")
        {
            Content = new StringContent("""{"tags":["published:1"]}""", Encoding.UTF8, "application/json"),
        };
        publish.Headers.Authorization = new AuthenticationHeaderValue("Bearer", fixture.AcmeToken([], more: new() { ["scope"] = "openid publish" }));
        using var response = await fixture.Http.SendAsync(publish);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("published:1", (await client.NextOfTypeAsync("invalidate", "the provider publisher's invalidation")).Data);
    }

    private async Task<HttpResponseMessage> SubscribeAsync(string token, string query = "")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events" + query);
        request.Headers.Accept.ParseAdd("text/event-stream");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    private static string Payload(string issuer) =>
        $$"""{"iss":"{{issuer}}","aud":"{{OidcFixture.Audience}}","org":"acme","cache_tags":"*","exp":{{DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeSeconds()}}}""";

    /// <summary>A token with <c>alg: none</c> and no signature.</summary>
    private static string Unsigned(string issuer) =>
        Base64Url("""{"alg":"none","typ":"JWT"}""") + "." + Base64Url(Payload(issuer)) + ".";

    /// <summary>An HS256 token naming the provider as its issuer, signed with <paramref name="key"/>.</summary>
    private static string HmacSigned(string issuer, string key)
    {
        var unsigned = Base64Url("""{"alg":"HS256","typ":"JWT"}""") + "." + Base64Url(Payload(issuer));
        return unsigned + "." + Base64Url(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.ASCII.GetBytes(unsigned)));
    }

    private static string Base64Url(string text) => Base64Url(Encoding.UTF8.GetBytes(text));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
