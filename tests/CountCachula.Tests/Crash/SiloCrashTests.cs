using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CountCachula.Tests.Crash;

/// <summary>
/// kill -9 of a silo mid-stream, in a real Redis-clustered three-process cluster: every client must end up with every
/// event it is interested in, exactly once after de-duplication, with no gap.
/// </summary>
public sealed class SiloCrashTests(ITestOutputHelper output)
{
    private const int Clients = 300;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_client_receives_every_matching_event_after_a_silo_is_killed(bool killTheHubsSilo)
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

        var victim = killTheHubsSilo ? silos.IndexOf(hubSilo!) : Enumerable.Range(0, 3).First(i => silos[i] != hubSilo);
        Assert.True(victim >= 0, $"The hub's silo {hubSilo} is not one of {string.Join(", ", silos)}.");

        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, Clients).Select(i => new ResilientReader(i, cluster.Urls, i % 3, Interest(i))).ToArray();
        var running = readers.Select(r => Task.Run(() => r.RunAsync(stop.Token))).ToArray();
        await Task.WhenAll(readers.Select(r => r.FirstConnected)).WaitAsync(TimeSpan.FromSeconds(60));

        // The publisher works at a fixed rate, one attempt per tick of a 100 ms timer (about 10 events/s, a backend
        // publishing continuously): event n carries e-n and grp-(n mod 3):n, and a refused publish is tried again on
        // the next tick, on another silo.
        const int Events = 160;
        var accepted = 0;
        var killedAt = 0L;
        var publisher = Task.Run(async () =>
        {
            using var rate = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            for (var n = 1; n <= Events; n++)
            {
                if (n == 40)
                {
                    await cluster.KillAsync(victim);
                    killedAt = Stopwatch.GetTimestamp();
                    output.WriteLine($"killed silo {victim} ({(victim == silos.IndexOf(hubSilo!) ? "the hub's" : "not the hub's")}) after event 39");
                }

                var body = new { tags = new[] { $"e-{n}", $"grp-{n % 3}:{n}" } };
                for (var attempt = 0; ; attempt++)
                {
                    await rate.WaitForNextTickAsync();
                    var target = cluster.Urls[(n + attempt) % 3];
                    if (killedAt != 0 && target == cluster.Urls[victim])
                    {
                        continue;
                    }

                    try
                    {
                        using var response = await http.PostAsJsonAsync(new Uri(target, "/api/cache/invalidate"), body);
                        if (response.IsSuccessStatusCode)
                        {
                            break;
                        }
                    }
                    catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                    {
                        // The cluster is still moving the dead silo's grains; try again.
                    }

                    Assert.True(attempt < 200, $"event {n} was refused 200 times");
                }

                Interlocked.Increment(ref accepted);
            }
        });
        await publisher;

        // Wait for every client to hold every event it wants (events, not time, decide; the bound names the phase).
        var deadline = Stopwatch.StartNew();
        foreach (var reader in readers)
        {
            var remaining = TimeSpan.FromSeconds(90) - deadline.Elapsed;
            await reader.WaitForAllAsync(Events, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
        }

        await stop.CancelAsync();
        await Task.WhenAll(running);

        var recovery = readers.Max(r => r.FirstEventAfter(killedAt)) is var first && first > 0
            ? Stopwatch.GetElapsedTime(killedAt, first)
            : TimeSpan.Zero;
        var reconnected = readers.Count(r => r.Reconnects > 0);
        var duplicates = readers.Sum(r => r.Duplicates);
        output.WriteLine($"events published: {Events}, clients: {Clients}, reconnected clients: {reconnected}, " +
            $"deliveries: {readers.Sum(r => r.Received.Count)}, duplicates seen (de-duplicated): {duplicates}, " +
            $"lost: 0, recovery (kill -> every client had a post-kill event): {recovery.TotalSeconds:0.0} s");
        Assert.True(reconnected >= Clients / 3 - 1, $"only {reconnected} clients reconnected; the killed silo held about {Clients / 3}");
        foreach (var reader in readers)
        {
            var missing = reader.Missing(Events);
            Assert.True(missing.Count == 0, $"client {reader.Index} ({reader.Interest}) missed events {string.Join(',', missing.Take(20))}");
        }
    }

    private static string Interest(int client) => (client % 4) switch
    {
        0 => "",                                  // everything
        1 => $"?tags=grp-{client % 3}:*",         // a third of the events, by pattern
        2 => "?tags=grp-0:*,grp-1:*&format=json", // two thirds, JSON format
        _ => "",
    };

    /// <summary>
    /// One browser-like client: reads its stream, and when the stream breaks reconnects to the next silo with the
    /// Last-Event-ID it last saw, as EventSource does.
    /// </summary>
    private sealed class ResilientReader(int index, IReadOnlyList<Uri> silos, int firstSilo, string interest)
    {
        private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ConcurrentDictionary<int, long> _received = new();
        private readonly SemaphoreSlim _progress = new(0);
        private string? _lastEventId;
        private TimeSpan? _retry;

        public int Index => index;

        public string Interest => interest == "" ? "*" : interest;

        public Task FirstConnected => _connected.Task;

        public IReadOnlyDictionary<int, long> Received => _received;

        public int Reconnects { get; private set; }

        public int Duplicates { get; private set; }

        public async Task RunAsync(CancellationToken stop)
        {
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var silo = firstSilo;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var client = await SseClient.ConnectAsync(http, new Uri(silos[silo], "/api/cache-events" + interest).ToString(),
                        TimeSpan.FromSeconds(10), request =>
                        {
                            if (_lastEventId is not null)
                            {
                                request.Headers.Add("Last-Event-ID", _lastEventId);
                            }
                        });
                    while (!stop.IsCancellationRequested)
                    {
                        var item = await client.NextAsync($"client {index}", Timeout.InfiniteTimeSpan).WaitAsync(stop);
                        _retry = client.Retry ?? _retry;
                        if (item.EventType == "connected")
                        {
                            _connected.TrySetResult();
                            continue;
                        }

                        if (item.EventType != "invalidate")
                        {
                            continue;
                        }

                        _lastEventId = item.EventId ?? _lastEventId;
                        var tags = item.Data.StartsWith('[') ? JsonSerializer.Deserialize<string[]>(item.Data)! : item.Data.Split(',');
                        var now = Stopwatch.GetTimestamp();
                        foreach (var tag in tags)
                        {
                            var colon = tag.LastIndexOf(':');
                            if (tag.StartsWith("grp-", StringComparison.Ordinal) && int.TryParse(tag.AsSpan(colon + 1), out var n) && !_received.TryAdd(n, now))
                            {
                                Duplicates++;
                            }
                        }

                        _progress.Release();
                    }
                }
                catch (Exception) when (!stop.IsCancellationRequested)
                {
                    // The silo went away (or refused while the cluster settles). EventSource reconnects after the
                    // server's `retry:` hint; so do we, on the next silo (a load balancer's job in production).
                    Reconnects++;
                    silo = (silo + 1) % silos.Count;
                    await WaitRetryAsync(stop);
                }
                catch (Exception)
                {
                    return;
                }
            }
        }

        /// <summary>
        /// Waits as EventSource does before reconnecting: the reconnection time the server last sent (`retry:`, 2–5 s
        /// with jitter here), or EventSource's own default of 3 s before any was received.
        /// </summary>
        private Task WaitRetryAsync(CancellationToken stop) =>
            Task.Delay(_retry ?? TimeSpan.FromSeconds(3), stop).ContinueWith(_ => { }, TaskScheduler.Default);

        public List<int> Missing(int events) =>
            [.. Enumerable.Range(1, events).Where(n => Wants(n) && !_received.ContainsKey(n))];

        public async Task WaitForAllAsync(int events, TimeSpan timeout)
        {
            var deadline = Stopwatch.StartNew();
            while (Missing(events).Count > 0)
            {
                var remaining = timeout - deadline.Elapsed;
                if (remaining <= TimeSpan.Zero || !await _progress.WaitAsync(remaining))
                {
                    throw new TimeoutException($"waiting for client {index} ({Interest}) to hold every event: still missing {string.Join(',', Missing(events).Take(20))}");
                }
            }
        }

        public long FirstEventAfter(long timestamp) =>
            timestamp == 0 ? 0 : _received.Values.Where(t => t > timestamp).DefaultIfEmpty(0).Min();

        private bool Wants(int n) => interest switch
        {
            "" => true,
            _ when interest.Contains("grp-0:*,grp-1:*", StringComparison.Ordinal) => n % 3 is 0 or 1,
            _ => interest.Contains($"grp-{n % 3}:*", StringComparison.Ordinal),
        };
    }
}
