using System.Net;
using System.Net.Http.Headers;
using CountCachula.AspNetCore.Publishing;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Security;

/// <summary>
/// The provider's keys change under a running hub. Each test has a provider and a hub of its own, so no other test's
/// tokens have spent the hub's refresh allowance before it starts.
/// </summary>
public sealed class OidcKeyRotationTests
{
    private static readonly Dictionary<string, object> Subscriber = new() { ["tenant"] = "acme", ["tags"] = "*" };

    [Fact]
    public async Task After_a_rotation_the_first_token_of_the_new_key_is_accepted()
    {
        await using var provider = await TestIdentityProvider.StartAsync();
        var first = TestSigningKey.Rsa("key-2026-01");
        var second = TestSigningKey.EcdsaP256("key-2026-02");
        provider.Publish(first);
        await using var hub = await StartHubAsync(provider);

        await using var before = await SseClient.ConnectAsync(hub.Http, "/api/cache-events?access_token=" + provider.Issue(first, Audience, Subscriber));
        await before.NextOfTypeAsync("connected", "connected with the first key");
        Assert.Equal(1, provider.JwksFetches);

        // The provider switches to a new key and stops publishing the old one; the hub is not restarted.
        provider.Publish(second);
        await using var after = await SseClient.ConnectAsync(hub.Http, "/api/cache-events?access_token=" + provider.Issue(second, Audience, Subscriber));
        await after.NextOfTypeAsync("connected", "connected with the new key, at the first attempt");
        Assert.Equal(2, provider.JwksFetches);

        // The hub now holds the new key set only: a new token of the old key is refused, and neither it nor tokens
        // naming made-up keys make the hub fetch the keys again so soon after the last refresh.
        using var old = await SubscribeAsync(hub, provider.Issue(first, Audience, Subscriber));
        Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        Assert.Contains("\"title\":\"Bad token signature\"", await old.Content.ReadAsStringAsync());
        for (var i = 0; i < 5; i++)
        {
            using var madeUp = await SubscribeAsync(hub, provider.Issue(TestSigningKey.Rsa("made-up-" + i), Audience, Subscriber));
            Assert.Equal(HttpStatusCode.Unauthorized, madeUp.StatusCode);
        }

        Assert.Equal(2, provider.JwksFetches);

        // Both streams go on: the one opened before the rotation is not cut off by it.
        await hub.Get<ICacheHub>().ForTenant("acme").InvalidateAsync("after-rotation");
        Assert.Equal("after-rotation", (await before.NextOfTypeAsync("invalidate", "the stream opened before the rotation")).Data);
        Assert.Equal("after-rotation", (await after.NextOfTypeAsync("invalidate", "the stream opened after the rotation")).Data);
    }

    [Fact]
    public async Task Tokens_with_a_wrong_issuer_or_audience_do_not_make_the_hub_fetch_the_keys_again()
    {
        await using var provider = await TestIdentityProvider.StartAsync();
        var key = TestSigningKey.Rsa("only-key");
        provider.Publish(key);
        await using var hub = await StartHubAsync(provider);
        using (var accepted = await SubscribeAsync(hub, provider.Issue(key, Audience, Subscriber)))
        {
            Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        }

        using var wrongIssuer = await SubscribeAsync(hub, provider.Issue(key, Audience, Subscriber, issuer: "http://127.0.0.1:9/realms/elsewhere"));
        using var wrongAudience = await SubscribeAsync(hub, provider.Issue(key, "another-app", Subscriber));
        using var forged = await SubscribeAsync(hub, provider.Issue(key.Impostor(), Audience, Subscriber));

        Assert.Equal(HttpStatusCode.Unauthorized, wrongIssuer.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongAudience.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        Assert.Equal(1, provider.JwksFetches);

        // The allowance is still there for a real rotation.
        var next = TestSigningKey.Rsa("next-key");
        provider.Publish(key, next);
        using var rotated = await SubscribeAsync(hub, provider.Issue(next, Audience, Subscriber));
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        Assert.Equal(2, provider.JwksFetches);
    }

    [Fact]
    public async Task A_provider_that_cannot_be_reached_is_a_503_not_a_bad_token()
    {
        await using var provider = await TestIdentityProvider.StartAsync();
        var key = TestSigningKey.Rsa("key");
        provider.Publish(key);
        provider.Failing = true;
        await using var hub = await StartHubAsync(provider);

        using var response = await SubscribeAsync(hub, provider.Issue(key, Audience, Subscriber));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("\"title\":\"Token issuer unreachable\"", await response.Content.ReadAsStringAsync());
        Assert.NotNull(response.Headers.RetryAfter);
    }

    private const string Audience = "countcachula";

    private static Task<TestFrontend> StartHubAsync(TestIdentityProvider provider) =>
        TestFrontend.StartAsync("oidc-keys-" + Guid.NewGuid().ToString("N")[..8], settings:
        [
            new("CountCachula:Auth:Enabled", "true"),
            new("CountCachula:Auth:Authority", provider.Authority),
            new("CountCachula:Auth:Audience", Audience),
            new("CountCachula:Auth:RequireHttpsMetadata", "false"),
        ]);

    private static async Task<HttpResponseMessage> SubscribeAsync(TestFrontend hub, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events");
        request.Headers.Accept.ParseAdd("text/event-stream");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await hub.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        // An admitted stream is not needed beyond its status.
        if (response.StatusCode == HttpStatusCode.OK)
        {
            response.Dispose();
            return new HttpResponseMessage(HttpStatusCode.OK);
        }

        return response;
    }
}
