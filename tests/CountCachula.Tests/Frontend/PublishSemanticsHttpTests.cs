using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Streaming;

namespace CountCachula.Tests.Frontend;

/// <summary>A frontend with quick idle eviction and a small per-tenant tag budget.</summary>
public sealed class SmallBudgetFixture : FrontendFixture
{
    public const int TagBudget = 8;

    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("CountCachula:MaxListenedTagsPerTenant", TagBudget.ToString()),
        new("CountCachula:InboxCheckInterval", "00:00:00.200"),
        new("CountCachula:UnsubscribeGrace", "00:00:00.100"),
    ];
}

/// <summary>Publishing over HTTP as a client can rely on it, and what one tenant may hold on a frontend.</summary>
public sealed class PublishSemanticsHttpTests(SmallBudgetFixture frontend) : IClassFixture<SmallBudgetFixture>
{
    [Fact]
    public async Task A_publish_retried_with_the_same_idempotency_key_answers_the_same_id_and_is_delivered_once()
    {
        var (stream, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=idem:1,idem:sentinel");
        await using var _ = stream;

        var (status1, first) = await PublishAsync("idem:1", "order-7-shipped");
        var (status2, again) = await PublishAsync("idem:1", "order-7-shipped");
        var (_, sentinel) = await PublishAsync("idem:sentinel", "sentinel-" + Guid.NewGuid().ToString("N"));

        Assert.Equal((HttpStatusCode.Accepted, HttpStatusCode.Accepted), (status1, status2));
        Assert.Equal(first.Id, again.Id);
        Assert.False(first.Repeated);
        Assert.True(again.Repeated);
        var received = new List<string>();
        for (var next = await stream.NextAsync("the first event"); next.EventId != sentinel.Id; next = await stream.NextAsync("up to the sentinel"))
        {
            received.Add($"{next.EventId} {next.Data}");
        }

        Assert.Equal([$"{first.Id} idem:1"], received);
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("tab\there")]
    public async Task An_idempotency_key_that_is_not_printable_ascii_gets_a_400_naming_the_header(string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/cache/invalidate") { Content = JsonContent.Create(new { tags = new[] { "x" } }) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        using var response = await frontend.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Idempotency-Key", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_overlong_idempotency_key_gets_a_400()
    {
        var (status, _) = await PublishAsync("x", new string('k', 129), expectBody: false);

        Assert.Equal(HttpStatusCode.BadRequest, status);
    }

    [Fact]
    public async Task When_the_hub_loses_its_sequence_to_another_activation_the_publish_gets_503_with_retry_after_and_the_retry_202()
    {
        var (_, first) = await PublishAsync("lost:1", null);
        var hub = frontend.Get<IGrainFactory>().GetGrain<ICacheHubGrain>("default");
        var segment = (await hub.GetHistoryStats()).CurrentSegment!;
        var competing = new CacheEvent { Tenant = "default", Sequence = long.Parse(first.Id!) + 1_000, Kind = CacheEventKind.Invalidate, Items = ["other"], PublishedAtUtc = DateTime.UtcNow };
        Assert.True(await frontend.Get<IGrainFactory>().GetGrain<IHistorySegmentGrain>(segment).Append(competing, long.Parse(first.Id!)));

        using var refused = await SendAsync("lost:2", "lost-2");
        var problem = await refused.Content.ReadAsStringAsync();
        var (status, retried) = await PublishAsync("lost:2", "lost-2");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Contains("temporarily unavailable", problem);
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.False(retried.Repeated);
        Assert.True(long.Parse(retried.Id!) > competing.Sequence);
    }

    [Fact]
    public async Task A_tenants_state_is_forgotten_once_its_last_stream_is_gone()
    {
        var subscriptions = frontend.Get<TopicSubscriptions>();
        var (stream, _) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=evict:1");
        Assert.True(subscriptions.IsSubscribedToInbox("default"));

        await stream.DisposeAsync();

        using var cts = new CancellationTokenSource(Timeouts.Default);
        while (subscriptions.TenantCount > 0)
        {
            var changed = subscriptions.WhenChanged();
            if (subscriptions.TenantCount == 0)
            {
                break;
            }

            await changed.WaitAsync(cts.Token);
        }

        Assert.False(subscriptions.IsSubscribedToInbox("default"));
        Assert.Empty(subscriptions.RegisteredTags("default"));
    }

    [Fact]
    public async Task Streams_beyond_the_tenants_tag_budget_get_429_naming_the_setting()
    {
        var tags = Enumerable.Range(0, SmallBudgetFixture.TagBudget).Select(i => $"budget:{i}").ToArray();
        var (within, id) = await SseClient.ConnectAndWaitAsync(frontend.Http, "/api/cache-events?tags=" + string.Join(',', tags));
        await using var _ = within;

        using var beyond = await frontend.Http.GetAsync("/api/cache-events?tags=budget:extra", HttpCompletionOption.ResponseHeadersRead);
        using var changeRequest = new HttpRequestMessage(HttpMethod.Post, $"/api/cache-events/{id}/interests") { Content = JsonContent.Create(new { add = new[] { "budget:extra" } }) };
        changeRequest.Headers.Add("X-Stream-Key", within.StreamKey);
        using var change = await frontend.Http.SendAsync(changeRequest);
        using var reuse = await frontend.Http.GetAsync("/api/cache-events?tags=budget:0", HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.TooManyRequests, beyond.StatusCode);
        Assert.Contains("MaxListenedTagsPerTenant", await beyond.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.TooManyRequests, change.StatusCode);
        // A tag already listened to costs nothing more.
        Assert.Equal(HttpStatusCode.OK, reuse.StatusCode);
    }

    [Fact]
    public async Task An_idempotency_key_reused_for_another_publication_is_refused_with_422_and_a_true_retry_still_repeats()
    {
        var key = "reuse-" + Guid.NewGuid().ToString("N");
        var (status, first) = await PublishAsync("reused:a", key);
        Assert.Equal(HttpStatusCode.Accepted, status);

        // Other tags under the same key: silently dropping them would lose an event.
        using var otherTags = await SendAsync("reused:b", key);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, otherTags.StatusCode);
        var why = await otherTags.Content.ReadAsStringAsync();
        Assert.Contains("was accepted for a different publication", why);
        Assert.Contains("application/problem+json", otherTags.Content.Headers.ContentType?.ToString());

        // The same key on another route (a preload hint) is another publication too.
        using var otherRoute = new HttpRequestMessage(HttpMethod.Post, "/api/cache/preload") { Content = JsonContent.Create(new { routes = new[] { "/reused" } }) };
        otherRoute.Headers.Add("Idempotency-Key", key);
        using var routeAnswer = await frontend.Http.SendAsync(otherRoute);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, routeAnswer.StatusCode);

        // The exact retry keeps its answer.
        var (retryStatus, retry) = await PublishAsync("reused:a", key);
        Assert.Equal(HttpStatusCode.Accepted, retryStatus);
        Assert.True(retry.Repeated);
        Assert.Equal(first.Id, retry.Id);
    }

    private async Task<HttpResponseMessage> SendAsync(string tag, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/cache/invalidate") { Content = JsonContent.Create(new { tags = new[] { tag } }) };
        if (key is not null)
        {
            request.Headers.Add("Idempotency-Key", key);
        }

        return await frontend.Http.SendAsync(request);
    }

    private async Task<(HttpStatusCode Status, Published Body)> PublishAsync(string tag, string? key, bool expectBody = true)
    {
        using var response = await SendAsync(tag, key);
        if (!expectBody)
        {
            return (response.StatusCode, new Published(null, false));
        }

        var body = JsonSerializer.Deserialize<Published>(await response.Content.ReadAsStringAsync(), JsonSerializerOptions.Web)!;
        return (response.StatusCode, body);
    }

    private sealed record Published(string? Id, bool Repeated);
}
