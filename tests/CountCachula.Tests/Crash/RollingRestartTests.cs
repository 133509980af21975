using System.Diagnostics;
using CountCachula.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CountCachula.Tests.Crash;

/// <summary>
/// A deploy: each of three silos stopped gracefully (SIGTERM) and started again in turn, under load. Each stop sends
/// its browsers elsewhere with a reconnect hint and hands its grains over; nothing accepted is lost, ids only rise,
/// no browser ever sees a non-200, and no silo logs an error while it stops.
/// </summary>
public sealed class RollingRestartTests(ITestOutputHelper output)
{
    private const int Clients = 600;

    [Fact]
    public async Task Restarting_every_silo_in_turn_loses_nothing_and_answers_every_connect_with_200()
    {
        await using var cluster = await ProcessCluster.StartAsync(3);
        await using var load = await ClusterLoad.StartAsync(cluster, Clients);

        // The restarts run beside the publisher: each returns once its silo is ready again.
        var startedAt = Stopwatch.GetTimestamp();
        var restarts = Task.Run(async () =>
        {
            for (var silo = 0; silo < 3; silo++)
            {
                await cluster.RestartAsync(silo);
            }
        });
        var n = 0;
        while (!restarts.IsCompleted)
        {
            n++;
            await load.PublishAsync(n, n);
        }

        await restarts;
        await load.PublishAsync(n + 1, n + 40);
        await load.AssertNothingLostAsync(startedAt, output, $"restarted silos 0, 1 and 2 in turn; logs in {cluster.Folder}");
        for (var silo = 0; silo < 3; silo++)
        {
            // Each error with the lines that follow it (message and the top of its exception), so a failure says why.
            var lines = cluster.Log(silo).Split('\n');
            var errors = lines
                .Select((line, i) => (line, i))
                .Where(e => e.line.StartsWith("fail:", StringComparison.Ordinal) || e.line.StartsWith("crit:", StringComparison.Ordinal))
                .Select(e => string.Join('\n', lines.Skip(e.i).Take(8)))
                .ToList();
            Assert.True(errors.Count == 0, $"Silo {silo} logged errors across its restart:\n{string.Join("\n---\n", errors)}");
        }
    }
}
