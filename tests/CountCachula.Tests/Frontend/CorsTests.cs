using System.Net;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Frontend;

public sealed class CorsFixture : FrontendFixture
{
    public const string AllowedOrigin = "https://app.example.com";

    protected override IEnumerable<KeyValuePair<string, string>> Settings => [new("CountCachula:AllowedOrigins:0", AllowedOrigin)];
}

/// <summary>Cross-origin pages that are allowed can open the stream and read Cache-Tags; others cannot.</summary>
public sealed class CorsTests(CorsFixture frontend) : IClassFixture<CorsFixture>
{
    [Fact]
    public async Task An_allowed_origin_reads_cache_tags_and_may_open_the_stream()
    {
        using var list = new HttpRequestMessage(HttpMethod.Get, "/api/items");
        list.Headers.Add("Origin", CorsFixture.AllowedOrigin);
        using var listed = await frontend.Http.SendAsync(list);

        await using var stream = await SseClient.ConnectAsync(frontend.Http, "/api/cache-events", configure: r => r.Headers.Add("Origin", CorsFixture.AllowedOrigin));

        Assert.Equal(CorsFixture.AllowedOrigin, Assert.Single(listed.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Contains("Cache-Tags", string.Join(',', listed.Headers.GetValues("Access-Control-Expose-Headers")));
        Assert.Equal(CorsFixture.AllowedOrigin, Assert.Single(stream.Response.Headers.GetValues("Access-Control-Allow-Origin")));
    }

    [Fact]
    public async Task A_preflight_for_publishing_from_an_allowed_origin_is_answered()
    {
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/api/cache/invalidate");
        preflight.Headers.Add("Origin", CorsFixture.AllowedOrigin);
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "content-type");

        using var response = await frontend.Http.SendAsync(preflight);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(CorsFixture.AllowedOrigin, Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
    }

    [Fact]
    public async Task Another_origin_gets_no_cors_headers()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/items");
        request.Headers.Add("Origin", "https://evil.example.net");

        using var response = await frontend.Http.SendAsync(request);

        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }
}
