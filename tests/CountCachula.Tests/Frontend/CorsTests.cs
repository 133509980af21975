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

    [Theory]
    [InlineData("/api/cache-events/some-stream/interests", "x-stream-key,content-type")]
    [InlineData("/api/cache/invalidate", "idempotency-key,content-type")]
    public async Task A_page_of_an_allowed_origin_may_send_the_stream_key_and_an_idempotency_key(string path, string headers)
    {
        using var preflight = new HttpRequestMessage(HttpMethod.Options, path);
        preflight.Headers.Add("Origin", CorsFixture.AllowedOrigin);
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", headers);

        using var response = await frontend.Http.SendAsync(preflight);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var allowed = string.Join(',', response.Headers.GetValues("Access-Control-Allow-Headers")).ToLowerInvariant();
        foreach (var header in headers.Split(','))
        {
            Assert.Contains(header, allowed);
        }
    }

    [Fact]
    public async Task A_publish_answer_exposes_retry_after_to_the_page()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/cache/invalidate") { Content = new StringContent("""{"tags":["cors"]}""", System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("Origin", CorsFixture.AllowedOrigin);

        using var response = await frontend.Http.SendAsync(request);

        Assert.Contains("Retry-After", string.Join(',', response.Headers.GetValues("Access-Control-Expose-Headers")));
    }

    [Fact]
    public async Task The_operator_diagnostics_answer_no_cors_even_to_an_allowed_origin()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events/diagnostics");
        request.Headers.Add("Origin", CorsFixture.AllowedOrigin);
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/api/cache-events/diagnostics");
        preflight.Headers.Add("Origin", CorsFixture.AllowedOrigin);
        preflight.Headers.Add("Access-Control-Request-Method", "GET");

        using var response = await frontend.Http.SendAsync(request);
        using var preflightAnswer = await frontend.Http.SendAsync(preflight);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"), "the diagnostics answered with CORS headers");
        Assert.False(response.Headers.Contains("Access-Control-Allow-Credentials"));
        Assert.False(preflightAnswer.Headers.Contains("Access-Control-Allow-Origin"), "the diagnostics' preflight allowed the origin");
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
