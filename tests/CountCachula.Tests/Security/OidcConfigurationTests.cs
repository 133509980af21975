using System.Net;
using System.Net.Http.Headers;
using CountCachula.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace CountCachula.Tests.Security;

/// <summary>
/// An OpenID Connect provider is a credential as good as a signing key for starting in Production, and a provider
/// configured wrongly stops the start with one line that names the setting.
/// </summary>
public sealed class OidcConfigurationTests
{
    [Fact]
    public async Task In_production_an_authority_alone_is_enough_to_start_and_everything_needs_a_token()
    {
        await using var provider = await TestIdentityProvider.StartAsync();
        var key = TestSigningKey.Rsa("prod-key");
        provider.Publish(key);
        await using var hub = await TestFrontend.StartAsync("oidc-prod-" + Guid.NewGuid().ToString("N")[..8], settings:
        [
            new("environment", "Production"),
            new("CountCachula:Auth:Authority", provider.Authority),
            new("CountCachula:Auth:Audience", "countcachula"),
            new("CountCachula:Auth:RequireHttpsMetadata", "false"),
        ]);

        using var anonymous = await hub.Http.GetAsync("/api/cache-events", HttpCompletionOption.ResponseHeadersRead);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events/diagnostics");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer",
            provider.Issue(key, "countcachula", new Dictionary<string, object> { ["tenant"] = "default", ["scope"] = "openid admin" }));
        using var operatorView = await hub.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Contains("\"title\":\"Credentials required\"", await anonymous.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, operatorView.StatusCode);
    }

    public static TheoryData<string, string[], string> BadSettings => new()
    {
        { "no audience", ["CountCachula:Auth:Authority=https://login.example.com/realms/acme"], "CountCachula:Auth:Audience is required with CountCachula:Auth:Authority" },
        { "plain http", ["CountCachula:Auth:Authority=http://login.example.com/realms/acme", "CountCachula:Auth:Audience=hub"], "CountCachula:Auth:Authority must use https" },
        { "not a URL", ["CountCachula:Auth:Authority=login.example.com", "CountCachula:Auth:Audience=hub"], "CountCachula:Auth:Authority must be the provider's issuer URL" },
        { "a query in the URL", ["CountCachula:Auth:Authority=https://login.example.com/?p=1", "CountCachula:Auth:Audience=hub"], "CountCachula:Auth:Authority must be the provider's issuer URL" },
        {
            "second provider without an audience",
            ["CountCachula:Auth:SigningKey=" + AuthFixture.Key, "CountCachula:Auth:Authorities:0:Authority=https://login.example.com/realms/globex"],
            "CountCachula:Auth:Authorities:0:Audience is required"
        },
        {
            "bound tenant that is no tenant id",
            ["CountCachula:Auth:Audience=hub", "CountCachula:Auth:Authorities:0:Authority=https://login.example.com/realms/globex", "CountCachula:Auth:Authorities:0:Tenant=not a tenant"],
            "CountCachula:Auth:Authorities:0:Tenant must be a tenant id"
        },
        {
            "the same provider twice",
            ["CountCachula:Auth:Audience=hub", "CountCachula:Auth:Authority=https://login.example.com/realms/acme", "CountCachula:Auth:Authorities:0:Authority=https://login.example.com/realms/acme/"],
            "CountCachula:Auth:Authorities:0:Authority names a provider configured already"
        },
        { "empty tags claim", ["CountCachula:Auth:Audience=hub", "CountCachula:Auth:Authority=https://login.example.com/realms/acme", "CountCachula:Auth:TagsClaim= "], "CountCachula:Auth:TagsClaim must name a claim" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_provider_configured_wrongly_stops_the_start_with_one_line_naming_the_setting(string name, string[] settings, string expected)
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            TestFrontend.StartAsync("oidc-options-" + Guid.NewGuid().ToString("N")[..8], settings:
            [
                new("environment", "Production"),
                .. settings.Select(s => new KeyValuePair<string, string>(s[..s.IndexOf('=')], s[(s.IndexOf('=') + 1)..])),
            ]));

        Assert.True(exception.Message.Contains(expected, StringComparison.Ordinal), $"{name}: '{exception.Message}' does not say '{expected}'");
        Assert.DoesNotContain('\n', exception.Message);
    }
}
