using System.Diagnostics;
using CountCachula.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CountCachula.Tests.Crash;

/// <summary>
/// Rounds of random trouble under load: each round picks a silo and kills it (kill -9, started again 3 s later),
/// freezes it (SIGSTOP for 5–20 s; thawed, it stops by itself if it was declared dead meanwhile, and is started
/// again, or gracefully restarted if it carried on) or restarts it gracefully. Nothing accepted is lost over the whole run, ids only rise and no connect is answered non-200.
/// <c>COUNTCACHULA_CHAOS_ROUNDS</c> sets the rounds (2 by default; <c>scripts/chaos.sh</c> runs 20) and
/// <c>COUNTCACHULA_CHAOS_SEED</c> replays a run.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int Clients = 600;
    private static readonly TimeSpan KilledFor = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task Random_kills_freezes_and_restarts_under_load_lose_nothing()
    {
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("COUNTCACHULA_CHAOS_ROUNDS"), out var r) ? r : 2;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("COUNTCACHULA_CHAOS_SEED"), out var s) ? s : Random.Shared.Next();
        var random = new Random(seed);
        output.WriteLine($"chaos: {rounds} rounds, seed {seed} (COUNTCACHULA_CHAOS_SEED replays it)");
        await using var cluster = await ProcessCluster.StartAsync(3);
        await using var load = await ClusterLoad.StartAsync(cluster, Clients);

        // The publisher runs the whole time; the rounds run beside it, one after the other.
        using var done = new CancellationTokenSource();
        var published = 0;
        var publishing = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                await load.PublishAsync(published + 1, published + 1);
                published++;
            }
        });

        var incidents = new List<(string What, long At)>();
        for (var round = 1; round <= rounds; round++)
        {
            var silo = random.Next(3);
            var at = Stopwatch.GetTimestamp();
            switch (random.Next(3))
            {
                case 0:
                    incidents.Add(($"round {round}: kill -9 silo {silo}, started again {KilledFor.TotalSeconds:0} s later", at));
                    await cluster.KillAsync(silo);
                    await Task.Delay(KilledFor);
                    break;
                case 1:
                    var frozen = TimeSpan.FromSeconds(5 + random.Next(16));
                    await cluster.FreezeAsync(silo);
                    await Task.Delay(frozen);
                    await cluster.ThawAsync(silo);

                    // Declared dead meanwhile, it stops by itself once it notices (exit code 70); frozen too briefly for
                    // that (the survivors, busy with its browsers, are slower to agree), it carries on as a member.
                    var stopped = await cluster.WaitExitedAsync(silo, TimeSpan.FromSeconds(20));
                    incidents.Add(($"round {round}: SIGSTOP silo {silo} for {frozen.TotalSeconds:0} s; thawed, it {(stopped ? "stopped by itself (declared dead)" : "carried on")}", at));
                    break;
                default:
                    incidents.Add(($"round {round}: graceful restart of silo {silo}", at));
                    break;
            }

            // Killed, stopped or running: it comes back (a running one through a graceful stop first).
            await cluster.RestartAsync(silo);
        }

        await done.CancelAsync();
        await publishing;
        await load.PublishAsync(published + 1, published + 40);

        for (var i = 0; i < incidents.Count; i++)
        {
            var (what, at) = incidents[i];
            var until = i + 1 < incidents.Count ? incidents[i + 1].At : long.MaxValue;
            var moved = load.Readers
                .Where(reader => reader.FirstBreakAfter(at) is { } broke && broke < until)
                .Select(reader => reader.FirstConnectAfter(reader.FirstBreakAfter(at)!.Value) is { } back ? Stopwatch.GetElapsedTime(at, back) : (TimeSpan?)null)
                .ToList();
            output.WriteLine($"{what}: {moved.Count} clients moved, incident -> connected elsewhere {Spread.Of(moved)}");
        }

        await load.AssertNothingLostAsync(incidents.Count > 0 ? incidents[0].At : Stopwatch.GetTimestamp(), output, $"chaos, {rounds} rounds; logs in {cluster.Folder}");
    }

}
