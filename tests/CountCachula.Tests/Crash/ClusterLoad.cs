using System.Diagnostics;
using CountCachula.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CountCachula.Tests.Crash;

/// <summary>
/// Browsers and a backend on the balancer of a <see cref="ProcessCluster"/>, around whatever a test does to the
/// cluster: EventSource-style clients (a quarter listen to everything, the rest by pattern, some in the JSON format;
/// nginx spreads them over the silos) and a publisher that sends one invalidation per 50 ms tick, each retried with
/// its own key until accepted. What a failover run must show is then read off the clients: every accepted event
/// reached every client that wants it, the ids each client saw only rose, and no connect was answered non-200.
/// </summary>
public sealed class ClusterLoad : IAsyncDisposable
{
    private readonly HttpClient _streams = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly HttpClient _publishing = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _running;

    private ClusterLoad(ProcessCluster cluster, int clients)
    {
        var token = cluster.Token();
        Readers = [.. Enumerable.Range(0, clients).Select(i => Reader(i, cluster.Balancer, token))];
        _running = [.. Readers.Select(r => Task.Run(() => r.RunAsync(_streams, _stop.Token)))];
        Publisher = new IdempotentPublisher(_publishing, cluster.Balancer, cluster.ApiKey, Guid.NewGuid().ToString("N")[..8]);
    }

    public IReadOnlyList<EventSourceReader> Readers { get; }

    public IdempotentPublisher Publisher { get; }

    /// <summary>Opens <paramref name="clients"/> streams on the balancer and waits until each said <c>connected</c>.</summary>
    public static async Task<ClusterLoad> StartAsync(ProcessCluster cluster, int clients)
    {
        var load = new ClusterLoad(cluster, clients);
        await Task.WhenAll(load.Readers.Select(r => r.FirstConnected)).WaitAsync(TimeSpan.FromSeconds(120));
        return load;
    }

    /// <summary>
    /// Publishes events <paramref name="from"/> to <paramref name="to"/>, one per 50 ms tick; before event n it awaits
    /// <paramref name="before"/>(n), which is where a test kills, freezes or restarts a silo.
    /// </summary>
    public async Task PublishAsync(int from, int to, Func<int, Task>? before = null)
    {
        using var rate = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        for (var n = from; n <= to; n++)
        {
            if (before is not null)
            {
                await before(n);
            }

            await rate.WaitForNextTickAsync();
            await Publisher.PublishAsync(n, CancellationToken.None);
        }
    }

    /// <summary>Waits (on arrivals) until every client holds every accepted event it wants; returns the clients that do not.</summary>
    public async Task<List<int>> DrainAsync(TimeSpan timeout)
    {
        var accepted = Publisher.Accepted.Keys.Order().ToArray();
        var clock = Stopwatch.StartNew();
        var stuck = new List<int>();
        foreach (var reader in Readers)
        {
            var remaining = timeout - clock.Elapsed;
            if (!await reader.WaitForAllAsync(accepted, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero))
            {
                stuck.Add(reader.Index);
            }
        }

        return stuck;
    }

    /// <summary>
    /// The assertions every failover run shares: nothing accepted lost, no publish accepted twice, no id that went
    /// back, no connect answered non-200, no publish refused for good. Prints the figures first.
    /// </summary>
    public async Task AssertNothingLostAsync(long incidentAt, ITestOutputHelper output, string incident)
    {
        var stuck = await DrainAsync(TimeSpan.FromSeconds(60));
        var figures = FailoverFigures.From(Readers, Publisher, incidentAt);
        output.WriteLine($"{incident}; {Readers.Count} clients on the balancer, {Publisher.Accepted.Count} events accepted at 20/s");
        foreach (var line in figures.Lines())
        {
            output.WriteLine(line);
        }

        var backwards = Readers.SelectMany(r => r.IdsBackwards.Select(b => $"client {r.Index}: {b}")).ToList();
        Assert.True(figures.Lost.Count == 0 && stuck.Count == 0,
            $"Events answered 202 that never reached an interested client: {string.Join("; ", figures.Lost.Take(10))}");
        Assert.True(figures.DuplicateKeys.Count == 0,
            $"Accepted publishes delivered under more than one event id (a retry became a second event): {string.Join("; ", figures.DuplicateKeys.Take(10))}");
        Assert.True(backwards.Count == 0, $"Event ids that did not rise on a client (its Last-Event-ID went back): {string.Join("; ", backwards.Take(10))}");
        Assert.True(figures.Refusals.Count == 0,
            $"Stream connects answered with a non-200 (a browser's EventSource gives up for good on those): {string.Join(", ", figures.Refusals.Take(10))}");
        Assert.True(Publisher.Refused.Count == 0,
            $"Publishes answered neither 202 nor a retryable status: {string.Join(", ", Publisher.Refused.Take(10).Select(r => $"event {r.Key}: {r.Value}"))}");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_running);
        _streams.Dispose();
        _publishing.Dispose();
        _stop.Dispose();
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
