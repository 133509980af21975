using System.Diagnostics;
using CountCachula.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CountCachula.Tests.Crash;

/// <summary>
/// kill -9 of a silo under load, in the cluster of <c>scripts/cluster.sh</c>: three silo processes clustered through a
/// real redis-server, nginx in front. Browsers (EventSource-style clients) and a publisher know only the balancer's
/// URL. Every event answered 202 must reach every interested client once, and the clients of the dead silo must be
/// reconnected to a survivor and caught up within the failover budget.
/// </summary>
public sealed class SiloCrashTests(ITestOutputHelper output)
{
    private const int Clients = 150;
    private const int Events = 200;
    private const int KillAfter = 60;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(5);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_accepted_event_reaches_every_client_and_the_dead_silos_clients_catch_up_within_5_s(bool killTheHubsSilo)
    {
        await using var cluster = await ProcessCluster.StartAsync(3);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        // Which silo to kill: the hub's own (its history and sequence must survive), or one that does not hold it.
        var silos = new List<string>();
        string? hubSilo = null;
        for (var i = 0; i < 3; i++)
        {
            var (silo, hub) = await cluster.SiloOfAsync(http, i);
            silos.Add(silo);
            hubSilo ??= hub;
        }

        // A silo's diagnostics may name it with a prefix (a listener id such as "silo-<address>"), the hub by address.
        var victim = killTheHubsSilo
            ? silos.FindIndex(s => s.Contains(hubSilo!, StringComparison.Ordinal))
            : silos.FindIndex(s => !s.Contains(hubSilo!, StringComparison.Ordinal));
        Assert.True(victim >= 0, $"The hub's silo {hubSilo} is not one of {string.Join(", ", silos)}.");

        // Browsers: a quarter listen to everything, the rest by pattern, some in the JSON format; nginx spreads them.
        var token = cluster.Token();
        using var streams = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, Clients).Select(i => Reader(i, cluster.Balancer, token)).ToArray();
        var running = readers.Select(r => Task.Run(() => r.RunAsync(streams, stop.Token))).ToArray();
        await Task.WhenAll(readers.Select(r => r.FirstConnected)).WaitAsync(TimeSpan.FromSeconds(60));

        // The publisher: one event per 50 ms tick (20/s), each retried with its key until accepted; the kill comes
        // right after event KillAfter was accepted.
        using var publishing = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var publisher = new IdempotentPublisher(publishing, cluster.Balancer, cluster.ApiKey, Guid.NewGuid().ToString("N")[..8]);
        var killedAt = 0L;
        using (var rate = new PeriodicTimer(TimeSpan.FromMilliseconds(50)))
        {
            for (var n = 1; n <= Events; n++)
            {
                if (n == KillAfter + 1)
                {
                    killedAt = Stopwatch.GetTimestamp();
                    await cluster.KillAsync(victim);
                }

                await rate.WaitForNextTickAsync();
                await publisher.PublishAsync(n, CancellationToken.None);
            }
        }

        // Every client must come to hold every event it wants that was accepted; arrivals decide, the bound names it.
        var accepted = publisher.Accepted.Keys.Order().ToArray();
        var drain = Stopwatch.StartNew();
        var stuck = new List<int>();
        foreach (var reader in readers)
        {
            var remaining = TimeSpan.FromSeconds(60) - drain.Elapsed;
            if (!await reader.WaitForAllAsync(accepted, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero))
            {
                stuck.Add(reader.Index);
            }
        }

        await stop.CancelAsync();
        await Task.WhenAll(running);

        var figures = FailoverFigures.From(readers, publisher, killedAt);
        output.WriteLine($"killed silo {victim} ({(killTheHubsSilo ? "the hub's" : "not the hub's")}) after event {KillAfter}; " +
            $"{Clients} clients on the balancer {cluster.Balancer}, {Events} events at 20/s; logs in {cluster.Folder} (kept if COUNTCACHULA_KEEP_CLUSTER is set)");
        foreach (var line in figures.Lines())
        {
            output.WriteLine(line);
        }

        Assert.True(figures.Affected.Count >= Clients / 6,
            $"Only {figures.Affected.Count} clients lost their stream; the killed silo held about {Clients / 3} (nginx spreads them round-robin).");
        Assert.True(figures.Lost.Count == 0 && stuck.Count == 0,
            $"Events answered 202 that never reached an interested client: {string.Join("; ", figures.Lost.Take(10))}");
        Assert.True(figures.DuplicateKeys.Count == 0,
            $"Accepted publishes delivered under more than one event id (a retry became a second event): {string.Join("; ", figures.DuplicateKeys.Take(10))}");
        Assert.True(figures.Refusals.Count == 0,
            $"Stream connects answered with a non-200 (a browser's EventSource gives up for good on those): {string.Join(", ", figures.Refusals.Take(10))}");
        Assert.True(publisher.Refused.Count == 0,
            $"Publishes answered neither 202 nor a retryable status: {string.Join(", ", publisher.Refused.Take(10).Select(r => $"event {r.Key}: {r.Value}"))}");
        Assert.True(figures.CaughtUp.Max <= Budget,
            $"The dead silo's clients were not all caught up within {Budget.TotalSeconds} s of the kill: {figures.CaughtUp} " +
            $"(reconnected: {figures.Reconnected}).");
        Assert.True(figures.DeliveryAfterKill.Max <= Budget,
            $"Events accepted around the kill reached clients more than {Budget.TotalSeconds} s after their 202: {figures.DeliveryAfterKill}.");
    }

    private static EventSourceReader Reader(int client, Uri balancer, string token)
    {
        var (query, wants) = (client % 4) switch
        {
            1 => ($"tags=grp-{client % 3}:*", (Func<int, bool>)(n => n % 3 == client % 3)), // a third of the events, by pattern
            2 => ("tags=grp-0:*,grp-1:*&format=json", n => n % 3 is 0 or 1),                // two thirds, JSON format
            _ => ("", _ => true),                                                              // everything
        };
        var url = new Uri(balancer, $"/api/cache-events?{(query.Length > 0 ? query + "&" : "")}access_token={token}");
        return new EventSourceReader(client, url, wants);
    }
}
