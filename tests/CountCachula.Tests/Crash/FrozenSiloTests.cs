using System.Diagnostics;
using CountCachula.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CountCachula.Tests.Crash;

/// <summary>
/// A silo frozen (SIGSTOP) for 20 s under load, then thawed: it answers nothing, so the balancer gives up on its
/// streams (it hears no heartbeat) and its browsers move to the survivors; the cluster declares it dead. Nothing
/// accepted is lost, ids only rise, and once thawed it does not linger with stale streams: it learns it was declared
/// dead and stops (exit code 70), ending whatever streams it still had.
/// </summary>
public sealed class FrozenSiloTests(ITestOutputHelper output)
{
    private const int Clients = 1500;
    private const int FreezeAfter = 60;

    [Fact]
    public async Task A_frozen_silos_clients_move_to_the_survivors_nothing_is_lost_and_once_thawed_it_exits()
    {
        await using var cluster = await ProcessCluster.StartAsync(3);
        var victim = await cluster.PickAsync(holdingTheHub: false);
        await using var load = await ClusterLoad.StartAsync(cluster, Clients);

        // 20 s frozen at 20 events/s: thawed before event FreezeAfter + 400, then 100 more events.
        var frozenAt = 0L;
        await load.PublishAsync(1, FreezeAfter + 500, async n =>
        {
            if (n == FreezeAfter + 1)
            {
                frozenAt = Stopwatch.GetTimestamp();
                await cluster.FreezeAsync(victim);
            }
            else if (frozenAt != 0 && n > FreezeAfter && Stopwatch.GetElapsedTime(frozenAt) >= TimeSpan.FromSeconds(20) && !_thawed)
            {
                _thawed = true;
                await cluster.ThawAsync(victim);
            }
        });

        await load.AssertNothingLostAsync(frozenAt, output, $"froze silo {victim} for 20 s after event {FreezeAfter}; logs in {cluster.Folder}");
        Assert.True(await cluster.WaitExitedAsync(victim, TimeSpan.FromSeconds(60)),
            $"Silo {victim} still runs a minute after it was thawed (declared dead, it should have stopped):\n{cluster.Log(victim)[^2000..]}");
    }

    private bool _thawed;
}
