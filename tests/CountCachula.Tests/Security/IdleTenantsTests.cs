using CountCachula.AspNetCore.Streaming;
using CountCachula.Tests.Infrastructure;
using Orleans.Runtime;

namespace CountCachula.Tests.Security;

/// <summary>A hub whose tenants' grains are collected after 70 idle seconds (the option must exceed Orleans' one-minute quantum).</summary>
public sealed class ShortIdleFixture : FrontendFixture
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("CountCachula:Hub:IdleGrainCollectionAge", "00:01:10"),
        new("CountCachula:InboxCheckInterval", "00:00:00.500"),
    ];
}

/// <summary>
/// Tenants that came and went leave nothing behind: their listeners on the web server are forgotten soon after their
/// last stream closed, and their hub and broadcast grains are collected once idle, so a silo that served thousands of
/// short-lived tenants gives their memory back (docs/security.md, "Idle tenants give their memory back").
/// </summary>
public sealed class IdleTenantsTests(ShortIdleFixture fixture) : IClassFixture<ShortIdleFixture>
{
    private const int Tenants = 50;

    [Fact]
    public async Task Tenants_whose_streams_closed_leave_no_listener_and_no_grain_behind()
    {
        var prefix = "idle-" + Guid.NewGuid().ToString("N")[..6] + "-";
        var subscriptions = fixture.Get<TopicSubscriptions>();
        for (var i = 0; i < Tenants; i++)
        {
            var (stream, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tenant={prefix}{i}");
            await stream.DisposeAsync();
        }

        var management = fixture.Get<IGrainFactory>().GetGrain<IManagementGrain>(0);
        Assert.True(await ActivationsAsync(management, prefix) > 0, "opening the streams activated none of the tenants' grains");

        // Waits on the condition, polling once a second: the listeners go within seconds, the grains after 70 idle
        // seconds and the collector's next pass (which runs once a minute).
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(4);
        int listeners, grains;
        do
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            listeners = Enumerable.Range(0, Tenants).Count(i => subscriptions.IsSubscribedToInbox(prefix + i));
            grains = await ActivationsAsync(management, prefix);
        }
        while ((listeners > 0 || grains > 0) && DateTime.UtcNow < deadline);

        Assert.True(listeners == 0, $"{listeners} of {Tenants} tenants still have a listener on the web server");
        Assert.True(grains == 0, $"{grains} grain activations of the departed tenants are still in memory");
    }

    private static async Task<int> ActivationsAsync(IManagementGrain management, string prefix)
    {
        // Every activation whose key is one of the tenants: the hub, broadcast and topic grains are keyed by tenant.
        var statistics = await management.GetDetailedGrainStatistics();
        return statistics.Count(s => s.GrainId.Key.ToString()!.StartsWith(prefix, StringComparison.Ordinal));
    }
}
