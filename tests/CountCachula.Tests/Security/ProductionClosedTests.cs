using System.Net;
using System.Net.Http.Headers;
using System.Text;
using CountCachula.Tests.Infrastructure;
using CountCachula.WebFrontend.Hosting;
using CountCachula.AspNetCore.Security;

namespace CountCachula.Tests.Security;

/// <summary>A hub started as in production: the Production environment, auth on, nothing else switched on.</summary>
public sealed class ProductionFixture : IAsyncLifetime
{
    public const string Key = AuthFixture.Key;
    public const string ApiKey = AuthFixture.ApiKey;

    private TestFrontend? _frontend;

    public TestFrontend Frontend => _frontend ?? throw new InvalidOperationException("The frontend has not started.");

    public HttpClient Http => Frontend.Http;

    public static IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("environment", "Production"),
        new("CountCachula:Auth:SigningKey", Key),
        new("CountCachula:Auth:ApiKeys:0:Key", ApiKey),
        new("CountCachula:Auth:ApiKeys:0:Tenant", "acme"),
    ];

    public static string Token(string[]? tags = null, bool publish = false, bool admin = false) =>
        CountCachulaAccess.MintToken(Key, "acme", TimeSpan.FromMinutes(10), tags, publish, admin: admin);

    public async Task InitializeAsync() => _frontend = await TestFrontend.StartAsync("prod-" + Guid.NewGuid().ToString("N")[..8], settings: Settings);

    public async Task DisposeAsync()
    {
        if (_frontend is not null)
        {
            await _frontend.DisposeAsync();
        }
    }
}

/// <summary>
/// In Production nothing is anonymous but the health probes: the operator views need a token with the <c>admin</c>
/// scope, the sample API and demo page are not there at all, and each refusal says why.
/// </summary>
public sealed class ProductionClosedTests(ProductionFixture fixture) : IClassFixture<ProductionFixture>
{
    public static TheoryData<string> OperatorViews => ["/dashboard", "/dashboard/stream", "/api/cache-events/diagnostics", "/metrics"];

    [Theory]
    [MemberData(nameof(OperatorViews))]
    public async Task An_operator_view_refuses_anonymous_callers(string path)
    {
        using var response = await fixture.Http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"title\":\"Credentials required\"", await response.Content.ReadAsStringAsync());
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Theory]
    [MemberData(nameof(OperatorViews))]
    public async Task An_operator_view_refuses_a_subscriber_or_publisher_token(string path)
    {
        foreach (var token in new[] { ProductionFixture.Token(tags: ["*"]), ProductionFixture.Token(publish: true) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("\"title\":\"Not an operator\"", await response.Content.ReadAsStringAsync());
        }

        // An API key publishes; it never opens an operator view.
        using var withKey = new HttpRequestMessage(HttpMethod.Get, path);
        withKey.Headers.Add("X-Api-Key", ProductionFixture.ApiKey);
        using var refused = await fixture.Http.SendAsync(withKey, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task An_operator_token_opens_every_operator_view()
    {
        var admin = ProductionFixture.Token(admin: true);
        using (var page = await fixture.Http.GetAsync("/dashboard?access_token=" + admin))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events/diagnostics"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", admin);
            using var diagnostics = await fixture.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, diagnostics.StatusCode);
            Assert.Contains("\"connections\":", await diagnostics.Content.ReadAsStringAsync());
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/metrics"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", admin);
            using var metrics = await fixture.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        }

        // The dashboard's stream takes the cookie, as the page's EventSource sends it.
        await using var stream = await SseClient.ConnectAsync(fixture.Http, "/dashboard/stream",
            configure: request => request.Headers.Add("Cookie", "countcachula_token=" + admin));
        Assert.Equal("snapshot", (await stream.NextOfTypeAsync("snapshot", "an operator's first dashboard snapshot")).EventType);
    }

    [Theory]
    [InlineData("GET", "/")]
    [InlineData("GET", "/api/items")]
    [InlineData("POST", "/api/items")]
    [InlineData("GET", "/api/sample-orders/o-1")]
    [InlineData("POST", "/api/sample-orders/o-1/ship")]
    public async Task The_sample_API_and_demo_page_are_not_served(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = new StringContent("""{"name":"x"}""", Encoding.UTF8, "application/json");
        }

        using var response = await fixture.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    public async Task Health_probes_stay_anonymous(string path)
    {
        using var response = await fixture.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Samples_switched_on_explicitly_are_served_outside_development()
    {
        await using var frontend = await TestFrontend.StartAsync("prod-samples-" + Guid.NewGuid().ToString("N")[..8], settings:
            [.. ProductionFixture.Settings, new("CountCachula:Samples:Enabled", "true")]);

        using var page = await frontend.Http.GetAsync("/");
        using var items = await frontend.Http.GetAsync("/api/items");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(HttpStatusCode.OK, items.StatusCode);
    }

    [Fact]
    public async Task Metrics_can_be_limited_to_a_management_host_instead()
    {
        // With the credential requirement off and a host filter on, /metrics answers only on the management host.
        await using var frontend = await TestFrontend.StartAsync("prod-metrics-" + Guid.NewGuid().ToString("N")[..8], settings:
            [.. ProductionFixture.Settings, new("CountCachula:Metrics:RequireAuthorization", "false"), new("CountCachula:Metrics:RequireHost:0", "metrics.internal")]);

        using var elsewhere = await frontend.Http.GetAsync("/metrics");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Host = "metrics.internal";
        using var management = await frontend.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
        Assert.Equal(HttpStatusCode.OK, management.StatusCode);
    }
}
