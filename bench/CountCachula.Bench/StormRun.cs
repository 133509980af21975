using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace CountCachula.Bench;

/// <summary>
/// <c>--storm</c>: what a silo's death costs the one that takes its clients. All N streams are dialled at once (the load
/// run opens them 200 at a time), each a plain <c>GET /api/cache-events</c>; the figures are how long until the last has
/// its response head and first event, how much CPU the server spent on that, and what the open streams then hold in
/// memory once they have sat idle for <c>--settle</c> seconds.
/// </summary>
internal static class StormRun
{
    // Warm-up: twice, this many streams opened at once and closed again, with events published to them in between, so
    // the accept path, JIT tiering and the pools are warm before the measured storm: it meets a running server, not a new one.
    private const int WarmupStreams = 1000;
    private const int WarmupRounds = 2;
    private const int WarmupEventsPerRound = 100;

    // Past this a stream that has not opened is counted failed: a dropped SYN is retried after 1, 3, 7, 15, 31 and 63 s.
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(120);

    public static async Task<int> RunAsync(BenchOptions options)
    {
        // The storm is one client address and (for the hub) one tenant: neither per-IP nor per-tenant limits may refuse it.
        // The per-IP one is already off for every started hub (ServerProcess); a --server-arg given still wins, being later.
        options = options with { ServerArgs = ["--CountCachula:MaxConnectionsPerTenant", "0", .. options.ServerArgs] };
        if (options.Hub != "compare-floor")
        {
            var only = await MeasureAsync(options);
            return only?.ExitCode ?? 0;
        }

        // The floor first, then ours on the same box with the same storm; the last line puts the two side by side.
        var floor = await MeasureAsync(options with { Hub = "floor" });
        var ours = await MeasureAsync(options with { Hub = "countcachula" });
        Console.WriteLine(
            $"side-by-side storm_connect_s countcachula={Seconds(ours?.ConnectSeconds)} floor={Seconds(floor?.ConnectSeconds)} " +
            $"rss_per_stream_bytes countcachula={Bytes(ours?.BytesPerStream)} floor={Bytes(floor?.BytesPerStream)}");
        return ours?.ExitCode ?? 1;
    }

    private static Task<StormResult?> MeasureAsync(BenchOptions options) =>
        BenchServers.RunAsync(options, servers => StormAsync(options, servers[0]));

    private static async Task<StormResult> StormAsync(BenchOptions options, ServerProcess server)
    {
        var endpoint = new IPEndPoint(IPAddress.Parse(server.Url.Host), server.Url.Port);
        var invalidate = new Uri(server.Url, "/api/cache/invalidate");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 });
        using var publisher = new OpenLoopPublisher(http, rate: 200);
        var warmupFailed = 0;
        for (var round = 0; round < WarmupRounds; round++)
        {
            var streams = Streams(WarmupStreams);
            using var stop = new CancellationTokenSource();
            Dial(streams, endpoint, stop.Token);
            await WhenOpenAsync(streams);
            var first = round * WarmupEventsPerRound;
            await Task.WhenAll(await publisher.PublishAsync(WarmupEventsPerRound, _ => invalidate, k => $"warmup-{first + k}", null));
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            warmupFailed += streams.Count(s => !s.Connected.IsCompletedSuccessfully);
            await CloseAsync(streams, stop);
        }

        // Let the server finish with the closed streams (the hub keeps a tenant's subscription 2 s after its last one).
        await Task.Delay(TimeSpan.FromSeconds(3));
        var rssBefore = server.ResidentBytes();
        var cpuBefore = server.ProcStatCpuTime();
        var overflowsBefore = ListenOverflows();
        var connections = Streams(options.Connections);
        using var stopStorm = new CancellationTokenSource();
        var dialled = Stopwatch.GetTimestamp();
        var readers = Dial(connections, endpoint, stopStorm.Token);
        await WhenOpenAsync(connections);
        var cpu = server.ProcStatCpuTime() - cpuBefore;
        var overflows = ListenOverflows() - overflowsBefore;
        var opened = connections.Count(c => c.Connected.IsCompletedSuccessfully);
        var failed = connections.Length - opened;
        var openedAt = connections.Where(c => c.Connected.IsCompletedSuccessfully).Select(c => Stopwatch.GetElapsedTime(dialled, c.ConnectedAt).TotalSeconds).Order().ToArray();
        var connectSeconds = opened == 0 ? double.NaN : openedAt[^1];
        var medianSeconds = opened == 0 ? double.NaN : openedAt[opened / 2];

        // Idle with every stream open: what the server holds for them once the storm's garbage has had time to go.
        await Task.Delay(TimeSpan.FromSeconds(options.Settle));
        var rssOpen = server.ResidentBytes();

        // A stream's reader ends only when its stream does: those still running are the streams the RSS is for.
        var open = connections.Where((c, i) => c.Connected.IsCompletedSuccessfully && !readers[i].IsCompleted).Count();
        var bytesPerStream = open == 0 ? double.NaN : (double)(rssOpen - rssBefore) / open;
        await CloseAsync(connections, stopStorm);

        Console.WriteLine(
            $"hub={options.Hub} storm connections={options.Connections} failed={failed} storm_connect_s={Seconds(connectSeconds)} " +
            $"rss_before_mb={Mb(rssBefore)} rss_open_mb={Mb(rssOpen)} rss_per_stream_bytes={Bytes(bytesPerStream)} " +
            $"server_cpu_s={cpu.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)} stream_p50_s={Seconds(medianSeconds)} listen_overflows={overflows}" +
            (open < opened ? $" dropped_while_settling={opened - open}" : "") +
            (warmupFailed > 0 ? $" warmup_failed={warmupFailed}" : "") +
            (publisher.Errors > 0 ? $" warmup_publish_errors={publisher.Errors}" : ""));
        return new StormResult(failed == 0 && open == opened ? 0 : 1, connectSeconds, bytesPerStream);
    }

    /// <summary>
    /// <paramref name="count"/> streams not yet dialled. Their sockets are made here (SseLoadConnection's constructor), so
    /// the storm's clock starts with the first dial, not with 15,000 socket() calls.
    /// </summary>
    private static SseLoadConnection[] Streams(int count)
    {
        // Nothing measured is published to them: the ledger only has to exist.
        var ledger = new DeliveryLedger(count, 0);
        return [.. Enumerable.Range(0, count).Select(i => new SseLoadConnection(i, ledger))];
    }

    /// <summary>Dials every stream at once (each queued to the thread pool, none waiting for another) and returns their readers.</summary>
    private static Task[] Dial(SseLoadConnection[] streams, IPEndPoint endpoint, CancellationToken stop) =>
        [.. streams.Select(stream => Task.Run(() => stream.RunAsync(endpoint, "/api/cache-events", stop)))];

    /// <summary>Waits until every stream has opened or failed, or the deadline has passed.</summary>
    private static async Task WhenOpenAsync(SseLoadConnection[] streams) =>
        await Task.WhenAll(streams.Select(s => s.Connected)).WaitAsync(s_deadline).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    private static async Task CloseAsync(SseLoadConnection[] streams, CancellationTokenSource stop)
    {
        // Cancelled first, so each reader ends as asked rather than as failed; then the sockets go.
        await stop.CancelAsync();
        foreach (var stream in streams)
        {
            stream.Dispose();
        }
    }

    /// <summary>
    /// The kernel's count of connections dropped because a listener's accept queue was full (TcpExt ListenOverflows in
    /// /proc/net/netstat): each such SYN is retried by the client a second or more later, which is what a storm's tail
    /// is usually made of. It counts every listener on the machine, so other work on the box can add to it; 0 when unknown.
    /// </summary>
    private static long ListenOverflows()
    {
        try
        {
            var lines = File.ReadAllLines("/proc/net/netstat").Where(l => l.StartsWith("TcpExt:", StringComparison.Ordinal)).ToArray();
            if (lines.Length >= 2)
            {
                var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var at = Array.IndexOf(names, "ListenOverflows");
                if (at > 0 && at < values.Length)
                {
                    return long.Parse(values[at], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
            // Not Linux: the figure is left out as 0.
        }

        return 0;
    }

    private static string Seconds(double? value) => value is { } v && !double.IsNaN(v) ? v.ToString("0.00", CultureInfo.InvariantCulture) : "n/a";

    private static string Bytes(double? value) => value is { } v && !double.IsNaN(v) ? v.ToString("0", CultureInfo.InvariantCulture) : "n/a";

    private static string Mb(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture);

    private sealed record StormResult(int ExitCode, double ConnectSeconds, double BytesPerStream);
}
