using CountCachula.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Hosting;

namespace CountCachula.Tests.Topology;

/// <summary>
/// The web tier as an Orleans client: a hub cluster of one silo that serves no HTTP at all, and a frontend started with
/// <c>Orleans:Mode=Client</c> that connects to its gateway. What the silo publishes reaches the browser through it.
/// </summary>
public sealed class ClientFrontendTests
{
    private const string Tenant = CacheTenant.Default;

    [Fact]
    public async Task A_client_only_frontend_delivers_what_the_silo_publishes_honours_interests_and_replays_after_its_restart()
    {
        var clusterId = "client-tier-" + Guid.NewGuid().ToString("N")[..8];
        var gatewayPort = FreePorts.Next();
        using var silo = await StartSiloAsync(clusterId, gatewayPort);
        var hub = silo.Services.GetRequiredService<IGrainFactory>().GetGrain<ICacheHubGrain>(Tenant);
        // The first frontend finds the gateway as a local port, the restarted one from an explicit gateway list.
        KeyValuePair<string, string>[] clientMode = [new("Orleans:Mode", "Client"), new("Orleans:GatewayPort", gatewayPort.ToString())];
        KeyValuePair<string, string>[] gatewayList = [new("Orleans:Mode", "Client"), new("Orleans:Gateways", $"127.0.0.1:{gatewayPort}")];

        string lastId;
        await using (var frontend = await TestFrontend.StartAsync(clusterId, settings: clientMode))
        {
            Assert.Null(frontend.App.Services.GetService<ILocalSiloDetails>());
            await using var stream = await SseClient.ConnectAsync(frontend.Http, "/api/cache-events?tags=item:1,list:*");
            Assert.Equal("connected", (await stream.NextAsync("connected through the client frontend")).EventType);

            await hub.Invalidate(["item:2"]);
            await hub.Invalidate(["item:1", "item:2"]);
            await hub.Invalidate(["list:page-3"]);
            var first = await stream.NextAsync("the first matching invalidation, published on the silo");
            var second = await stream.NextAsync("the pattern match, published on the silo");

            // item:2 alone matched nothing; the first event to arrive is the one naming item:1, cut to what was asked.
            Assert.Equal(("invalidate", "item:1"), (first.EventType, first.Data));
            Assert.Equal(("invalidate", "list:page-3"), (second.EventType, second.Data));
            Assert.Contains("event: invalidate\n", stream.RawText, StringComparison.Ordinal);
            lastId = second.EventId!;
        }

        // Published while no frontend runs: the restarted one replays it from the hub's history.
        await hub.Invalidate(["item:1"]);

        await using (var restarted = await TestFrontend.StartAsync(clusterId, settings: gatewayList))
        {
            await using var stream = await SseClient.ConnectAsync(restarted.Http, "/api/cache-events?tags=item:1,list:*",
                configure: request => request.Headers.Add("Last-Event-ID", lastId));
            Assert.Equal("connected", (await stream.NextAsync("connected to the restarted frontend")).EventType);
            var replayed = await stream.NextAsync("the replay of what was missed during the restart");
            await hub.Invalidate(["list:page-4"]);
            var live = await stream.NextAsync("a live event after the restart");

            Assert.Equal(("invalidate", "item:1"), (replayed.EventType, replayed.Data));
            Assert.True(long.Parse(replayed.EventId!) > long.Parse(lastId));
            Assert.Equal(("invalidate", "list:page-4"), (live.EventType, live.Data));
        }
    }

    /// <summary>A silo with Count Cachula's grains and nothing else: no Kestrel, no web frontend.</summary>
    private static async Task<IHost> StartSiloAsync(string clusterId, int gatewayPort)
    {
        var host = Host.CreateDefaultBuilder()
            .ConfigureLogging(logging => logging.ClearProviders().AddConsole().SetMinimumLevel(LogLevel.Warning))
            .UseOrleans(silo => silo
                .UseLocalhostClustering(FreePorts.Next(), gatewayPort, serviceId: "countcachula", clusterId: clusterId)
                .AddCountCachula())
            .Build();
        await host.StartAsync();
        return host;
    }
}
