using System.Net;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Delivery;

namespace CountCachula.Tests.Security;

/// <summary>A hub that lets one address hold two streams and one tenant three.</summary>
public sealed class LimitsFixture : FrontendFixture
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("CountCachula:MaxConnectionsPerIp", "2"),
        new("CountCachula:MaxConnectionsPerTenant", "3"),
    ];
}

/// <summary>Streams beyond a limit get 429 with a reason and Retry-After; a closed stream gives its slot back.</summary>
public sealed class ConnectionLimitTests(LimitsFixture fixture) : IClassFixture<LimitsFixture>
{
    [Fact]
    public async Task A_third_stream_from_one_address_is_refused_until_one_closes()
    {
        var (first, _) = await SseClient.ConnectAndWaitAsync(fixture.Http);
        var (second, _) = await SseClient.ConnectAndWaitAsync(fixture.Http);
        await using var keep = second;

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var refused = await fixture.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("30", refused.Headers.GetValues("Retry-After").Single());
        Assert.Contains("CountCachula:MaxConnectionsPerIp = 2", await refused.Content.ReadAsStringAsync());

        // Closing one gives its slot back: wait for the release, then a new stream is admitted.
        var released = fixture.Get<ConnectionLimits>().WhenReleased();
        await first.DisposeAsync();
        await released.WaitAsync(Timeouts.Default);
        var (third, _) = await SseClient.ConnectAndWaitAsync(fixture.Http);
        await third.DisposeAsync();
    }
}
