using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Frontend;

/// <summary>The HTTP publishing API: good input reaches the stream, bad input gets a 400 that says what was wrong.</summary>
public sealed class PublishingApiTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    public static TheoryData<string, string, string> BadBodies => new()
    {
        // endpoint, JSON body, text the ProblemDetails must contain
        { "invalidate", """{"tags":[""]}""", "tags[0] is empty" },
        { "invalidate", """{"tags":["ok","a\rb"]}""", "tags[1] contains CR, LF or NUL" },
        { "invalidate", """{"tags":["a\nb"]}""", "\\\\n" },
        { "invalidate", """{"tags":["a\u0000b"]}""", "tags[0] contains CR, LF or NUL" },
        { "invalidate", $$"""{"tags":["{{new string('x', 257)}}"]}""", "257 characters" },
        { "invalidate", $$"""{"tags":[{{string.Join(',', Enumerable.Range(0, 1001).Select(i => $"\"t{i}\""))}}]}""", "1001 entries" },
        { "invalidate", """{"tags":[]}""", "At least one entry" },
        { "invalidate", """{"tags":[null]}""", "tags[0] is empty" },
        { "invalidate", """{}""", "At least one entry is required in 'tags'" },
        { "invalidate", """{"tags":"items-list"}""", "Malformed JSON" },
        { "invalidate", """{"tags":["a"]""", "Malformed JSON" },
        { "invalidate", """null""", "Malformed JSON" },
        { "preload", """{"routes":["/a","/b\n"]}""", "routes[1] contains CR, LF or NUL" },
        { "preload", """{"routes":[""]}""", "routes[0] is empty" },
        { "preload", """not json""", "Malformed JSON" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_input_is_a_400_problem_naming_the_value_and_the_hub_keeps_serving(string endpoint, string body, string expected)
    {
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using var _ = client;

        using var response = await frontend.Http.PostAsync($"/api/cache/{endpoint}", new StringContent(body, Encoding.UTF8, "application/json"));
        using var good = await frontend.Http.PostAsJsonAsync("/api/cache/invalidate", new { tags = new[] { "after-bad-input" } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadAsStringAsync();
        Assert.Contains(expected, problem);
        Assert.Equal(HttpStatusCode.Accepted, good.StatusCode);
        var next = await client.NextAsync("waiting for the valid event published after the bad one");
        Assert.Equal(("invalidate", "after-bad-input"), (next.EventType, next.Data));
    }

    [Fact]
    public async Task Body_that_is_not_json_is_a_415_problem()
    {
        using var response = await frontend.Http.PostAsync("/api/cache/invalidate", new StringContent("tags=a", Encoding.UTF8, "application/x-www-form-urlencoded"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Contains("application/json", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Valid_publishes_reach_the_stream_deduplicated_in_order()
    {
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using var _ = client;

        using var invalidated = await frontend.Http.PostAsJsonAsync("/api/cache/invalidate", new { tags = new[] { "project:456", "project:456:tasks", "project:456", "*" } });
        using var hinted = await frontend.Http.PostAsJsonAsync("/api/cache/preload", new { routes = new[] { "/api/items?page=2", "/api/user/profile" } });

        Assert.Equal(HttpStatusCode.Accepted, invalidated.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, hinted.StatusCode);
        var invalidate = await client.NextAsync("waiting for the invalidation");
        var hint = await client.NextAsync("waiting for the preload hint");
        Assert.Equal(("invalidate", "project:456,project:456:tasks,*"), (invalidate.EventType, invalidate.Data));
        Assert.Equal(("preload-hint", "/api/items?page=2,/api/user/profile"), (hint.EventType, hint.Data));
    }

    [Fact]
    public async Task Problem_details_are_rfc7807_json()
    {
        using var response = await frontend.Http.PostAsJsonAsync("/api/cache/invalidate", new { tags = new[] { "a\rb" } });

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(400, json.RootElement.GetProperty("status").GetInt32());
        Assert.True(json.RootElement.TryGetProperty("title", out _));
        Assert.True(json.RootElement.GetProperty("errors").TryGetProperty("tags[0]", out _));
    }
}
