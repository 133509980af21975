using System.Net;
using System.Net.Http.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Security;

/// <summary>
/// A stream's interests change only with the stream's own key (from its <c>connected</c> event), and never beyond the
/// scope of the credential that opened it — whoever asks, with whatever token.
/// </summary>
public sealed class ForeignInterestChangeTests(AuthFixture fixture) : IClassFixture<AuthFixture>
{
    private ICacheHub Acme => fixture.Get<ICacheHub>().ForTenant("acme");

    [Fact]
    public async Task A_narrow_token_of_the_same_tenant_cannot_touch_another_users_stream()
    {
        var (victim, id) = await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?tags=order:*&access_token=" + AuthFixture.Token(tags: ["order:*"]));
        await using var _ = victim;

        using var removed = await ChangeAsync(id, AuthFixture.Token(tags: ["order:7"]), key: null, new { remove = new[] { "order:*" } });

        Assert.Equal(HttpStatusCode.Forbidden, removed.StatusCode);
        Assert.Contains("\"title\":\"Not this stream's key\"", await removed.Content.ReadAsStringAsync());
        await Acme.InvalidateAsync("order:1");
        Assert.Equal("order:1", (await victim.NextOfTypeAsync("invalidate", "the victim still gets its orders")).Data);
    }

    [Fact]
    public async Task A_wider_token_cannot_add_star_to_another_users_stream_even_with_its_key()
    {
        var (victim, id) = await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?tags=order:*&access_token=" + AuthFixture.Token(tags: ["order:*"]));
        await using var _ = victim;
        var wide = AuthFixture.Token(tags: ["*"]);

        using var withoutKey = await ChangeAsync(id, wide, key: null, new { add = new[] { "*" } });
        using var wrongKey = await ChangeAsync(id, wide, key: "guessed-key", new { add = new[] { "*" } });

        // Even a leaked key cannot widen the stream beyond the order:* its own token allowed.
        using var leakedKey = await ChangeAsync(id, wide, victim.StreamKey, new { add = new[] { "*" } });

        Assert.Equal(HttpStatusCode.Forbidden, withoutKey.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, wrongKey.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, leakedKey.StatusCode);
        Assert.Contains("\"title\":\"Interest outside the token's scope\"", await leakedKey.Content.ReadAsStringAsync());
        await Acme.InvalidateAsync("payroll:ceo");
        await Acme.InvalidateAsync("order:2");
        Assert.Equal("order:2", (await victim.NextOfTypeAsync("invalidate", "payroll:ceo never reaches the order stream")).Data);
    }

    [Fact]
    public async Task The_owner_with_its_key_changes_interests_within_its_scope()
    {
        var token = AuthFixture.Token(tags: ["order:*"]);
        var (owner, id) = await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?tags=order:1&access_token=" + token);
        await using var _ = owner;

        using var changed = await ChangeAsync(id, token, owner.StreamKey, new { add = new[] { "order:7" }, remove = new[] { "order:1" } });

        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        await Acme.InvalidateAsync("order:1");
        await Acme.InvalidateAsync("order:7");
        Assert.Equal("order:7", (await owner.NextOfTypeAsync("invalidate", "the new interest, not the removed one")).Data);
    }

    [Fact]
    public async Task Another_tenant_cannot_find_the_stream_at_all()
    {
        var (victim, id) = await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?access_token=" + AuthFixture.Token());
        await using var _ = victim;

        using var response = await ChangeAsync(id, AuthFixture.Token(tenant: "globex"), victim.StreamKey, new { add = new[] { "x" } });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private async Task<HttpResponseMessage> ChangeAsync(string id, string token, string? key, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/cache-events/{id}/interests?access_token={token}") { Content = JsonContent.Create(body) };
        if (key is not null)
        {
            request.Headers.Add("X-Stream-Key", key);
        }

        return await fixture.Http.SendAsync(request);
    }
}
