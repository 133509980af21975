using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using CountCachula.Bench;

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (HelpRequestedException)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}
catch (Exception exception) when (exception is ArgumentException or FormatException)
{
    Console.Error.WriteLine(exception.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

ThreadPool.SetMinThreads(32, 32);
var servers = new List<ServerProcess>();
try
{
    if (options.Url is null)
    {
        var clusterId = "bench-" + Guid.NewGuid().ToString("N")[..8];
        for (var s = 0; s < options.Silos; s++)
        {
            servers.Add(await ServerProcess.StartAsync("CountCachula.WebFrontend", options.ServerArgs, options.Verbose, TimeSpan.FromSeconds(90), clusterId, s == 0 ? null : servers[0].SiloPort));
        }
    }

    return await RunAsync(options, servers);
}
finally
{
    foreach (var server in servers)
    {
        await server.DisposeAsync();
    }
}

static async Task<int> RunAsync(BenchOptions options, List<ServerProcess> servers)
{
    Uri[] urls = options.Url is null ? [.. servers.Select(s => s.Url)] : [options.Url];
    var endpoints = urls.Select(u => new IPEndPoint(IPAddress.Parse(u.Host == "localhost" ? "127.0.0.1" : u.Host), u.Port)).ToArray();
    var silos = urls.Length;

    var ledger = new DeliveryLedger(options.Connections, options.Events, options.Groups);
    using var stop = new CancellationTokenSource();
    var connections = Enumerable.Range(0, options.Connections).Select(i => new SseLoadConnection(i, ledger)).ToArray();
    var connectClock = Stopwatch.StartNew();
    foreach (var batch in connections.Select((c, i) => (c, i)).Chunk(200))
    {
        var opening = batch.Select(item =>
        {
            var silo = item.i % silos;
            var path = "/api/cache-events";
            if (options.Groups > 0)
            {
                var group = GroupOf(item.i, silo, silos, options);
                ledger.AssignGroup(item.i, group, WarmupRounds(options));
                path += $"?tags=bench-t{group}";
            }

            _ = Task.Run(() => item.c.RunAsync(endpoints[silo], path, stop.Token));
            return item.c.Connected;
        }).ToArray();
        await Task.WhenAll(opening).WaitAsync(TimeSpan.FromSeconds(60));
    }

    var connectTime = connectClock.Elapsed;
    var rssConnected = servers.Sum(s => s.ResidentBytes());

    // Open-loop publisher: event k is sent at start + k/R whatever the previous requests are doing, to silo k mod S.
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 });
    using var inFlight = new SemaphoreSlim(64);
    var publishErrors = 0;

    async Task<List<Task>> PublishAsync(int count, Func<int, string> tagOf, Action<int>? beforeSend)
    {
        var publishes = new List<Task>(count);
        var start = Stopwatch.GetTimestamp();
        for (var k = 0; k < count; k++)
        {
            var due = start + (long)(k / options.Rate * Stopwatch.Frequency);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(2))
            {
                await Task.Delay(wait - TimeSpan.FromMilliseconds(1));
            }

            while (Stopwatch.GetTimestamp() < due)
            {
                Thread.SpinWait(20);
            }

            await inFlight.WaitAsync();
            var number = k;
            publishes.Add(Task.Run(async () =>
            {
                try
                {
                    using var content = new StringContent($"{{\"tags\":[\"{tagOf(number)}\"]}}", Encoding.UTF8, "application/json");
                    beforeSend?.Invoke(number);
                    using var response = await http.PostAsync(new Uri(urls[number % silos], "/api/cache/invalidate"), content);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref publishErrors);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref publishErrors);
                }
                finally
                {
                    inFlight.Release();
                }
            }));
        }

        return publishes;
    }

    if (options.Warmup > 0)
    {
        // Grouped connections count their events, so warm-up there is whole rounds over every group's tag: it also
        // opens each tag's stream path before the measured events take it.
        var warmup = options.Groups > 0 ? WarmupRounds(options) * options.Groups : options.Warmup;
        await Task.WhenAll(await PublishAsync(warmup, k => options.Groups > 0 ? $"bench-t{k % options.Groups}" : $"warmup-{k}", null));
        await Task.Delay(500);
    }

    var before = await DiagnosticsAsync(http, urls);
    var cpuBefore = servers.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.CpuTime());
    var wallBefore = Stopwatch.GetTimestamp();
    var publishes = await PublishAsync(
        options.Events,
        options.Groups > 0 ? k => $"bench-t{k % options.Groups}" : k => $"bench-{k}",
        ledger.MarkSent);
    await Task.WhenAll(publishes);

    var expected = ledger.Expected;
    var lastCount = -1L;
    var lastProgress = Stopwatch.StartNew();
    while (ledger.Delivered < expected && lastProgress.Elapsed < options.Drain)
    {
        await Task.Delay(20);
        if (ledger.Delivered != lastCount)
        {
            lastCount = ledger.Delivered;
            lastProgress.Restart();
        }
    }

    var wallAfter = Stopwatch.GetTimestamp();
    var cpuAfter = servers.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.CpuTime());
    var rssEnd = servers.Sum(s => s.ResidentBytes());
    var after = await DiagnosticsAsync(http, urls);
    var failed = connections.Count(c => c.Failed);
    await stop.CancelAsync();
    foreach (var connection in connections)
    {
        connection.Dispose();
    }

    var activeSeconds = Stopwatch.GetElapsedTime(wallBefore, Math.Max(ledger.LastDeliveryAt, wallBefore + 1)).TotalSeconds;
    var wallSeconds = Stopwatch.GetElapsedTime(wallBefore, wallAfter).TotalSeconds;
    string F(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);
    string Mb(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture);
    var serverFigures = servers.Count == 0
        ? "server_rss=n/a server_cpu=n/a"
        : $"server_rss={Mb(rssEnd)}MB rss_connected={Mb(rssConnected)}MB bytes_per_conn={(rssConnected / options.Connections).ToString(CultureInfo.InvariantCulture)} " +
          $"server_cpu={F((cpuAfter - cpuBefore).TotalSeconds / wallSeconds * 100)}%";
    var streamFigures = before is null || after is null
        ? ""
        : $" silos={silos} stream_messages={after.Value.Messages - before.Value.Messages} broadcast_design={(long)options.Events * silos} gaps={after.Value.Gaps - before.Value.Gaps}";
    Console.WriteLine(
        $"connections={options.Connections} events={options.Events} rate={F(options.Rate)}/s expected={expected} delivered={ledger.Delivered} " +
        $"lost={expected - ledger.Delivered} duplicates={ledger.Duplicates} strays={ledger.Strays} failed_conns={failed} publish_errors={publishErrors} " +
        $"p50={F(ledger.Latency.Percentile(50))}ms p99={F(ledger.Latency.Percentile(99))}ms max={F(ledger.Latency.MaxMilliseconds)}ms " +
        $"deliveries/s={(ledger.Delivered / activeSeconds).ToString("0", CultureInfo.InvariantCulture)} connect_time={F(connectTime.TotalSeconds)}s {serverFigures}{streamFigures}");
    return ledger.Delivered == expected && ledger.Duplicates == 0 && ledger.Strays == 0 ? 0 : 1;
}

static int WarmupRounds(BenchOptions options) =>
    options.Groups == 0 || options.Warmup == 0 ? 0 : Math.Max(1, options.Warmup / options.Groups);

// With --partition, silo s holds only groups g ≡ s (mod silos), so an event concerns one silo.
static int GroupOf(int connection, int silo, int silos, BenchOptions options) => options.Partition
    ? silo + silos * (connection / silos % (options.Groups / silos))
    : connection % options.Groups;

static async Task<(long Messages, long Gaps)?> DiagnosticsAsync(HttpClient http, Uri[] urls)
{
    long messages = 0, gaps = 0;
    foreach (var url in urls)
    {
        try
        {
            var diagnostics = await http.GetFromJsonAsync<Diagnostics>(new Uri(url, "/api/cache-events/diagnostics"));
            messages += diagnostics!.StreamMessages;
            gaps += diagnostics.Gaps;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    return (messages, gaps);
}

internal sealed record Diagnostics(long StreamMessages, long Gaps);
