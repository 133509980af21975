using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using CountCachula.Bench;

if (args.Length > 0 && args[0] == "--serve-baseline")
{
    return await BaselineHub.ServeAsync(args[1..]);
}

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
if (options.Storm)
{
    return await StormRun.RunAsync(options);
}

if (options.NonReading > 0)
{
    return await NonReadingRun.RunAsync(options);
}

if (options.Tenants > 0)
{
    return await TenantsRun.RunAsync(options);
}

if (options.Hub == "compare")
{
    // Same connections, events and rate for both; the baseline is cut off E/R + 10 s after publishing starts, since
    // at its pace the full run could take minutes. Its deliveries/s is what it managed in that time. It has no JIT-heavy
    // Orleans start-up to warm, so 100 warm-up events are plenty.
    var baseline = await MeasureAsync(options with { Hub = "baseline", Warmup = Math.Min(options.Warmup, 100), MaxSeconds = options.MaxSeconds > 0 ? options.MaxSeconds : options.Events / options.Rate + 10 });
    var ours = await MeasureAsync(options with { Hub = "countcachula" });
    var ratio = baseline.DeliveriesPerSecond > 0 ? ours.DeliveriesPerSecond / baseline.DeliveriesPerSecond : double.PositiveInfinity;
    Console.WriteLine(
        $"ratio deliveries/s countcachula/baseline={ratio.ToString("0.0", CultureInfo.InvariantCulture)}x " +
        $"p99 baseline/countcachula={(baseline.P99 / Math.Max(ours.P99, 0.001)).ToString("0.0", CultureInfo.InvariantCulture)}x");
    return ours.ExitCode;
}

if (options.Hub == "compare-floor")
{
    // The floor first (it has nothing to warm but the kernel's paths, so 100 warm-up events are plenty), then ours
    // with the same load; the last line puts the two side by side.
    var floor = await MeasureAsync(options with { Hub = "floor", Warmup = Math.Min(options.Warmup, 100) });
    var ours = await MeasureAsync(options with { Hub = "countcachula" });
    string Ms(double value) => double.IsNaN(value) ? "n/a" : value.ToString("0.0", CultureInfo.InvariantCulture) + "ms";
    Console.WriteLine(
        $"side-by-side p50 countcachula={Ms(ours.P50)} floor={Ms(floor.P50)} p99 countcachula={Ms(ours.P99)} floor={Ms(floor.P99)} " +
        $"deliveries/s countcachula={ours.DeliveriesPerSecond.ToString("0", CultureInfo.InvariantCulture)} floor={floor.DeliveriesPerSecond.ToString("0", CultureInfo.InvariantCulture)}");
    return ours.ExitCode;
}

return (await MeasureAsync(options)).ExitCode;

static async Task<RunResult> MeasureAsync(BenchOptions options) =>
    await BenchServers.RunAsync(options, servers => RunAsync(options, servers)) ?? new RunResult(0, double.NaN, double.NaN, double.NaN);

static async Task<RunResult> RunAsync(BenchOptions options, List<ServerProcess> servers)
{
    Uri[] urls = options.Url is null ? [.. servers.Select(s => s.Url)] : [options.Url];
    var endpoints = urls.Select(u => new IPEndPoint(IPAddress.Parse(u.Host == "localhost" ? "127.0.0.1" : u.Host), u.Port)).ToArray();
    var silos = urls.Length;

    var ledger = new DeliveryLedger(options.Connections, options.Events, options.Groups);
    using var stop = new CancellationTokenSource();
    // Slow clients are spread evenly: every (100 / P)-th connection stops reading once it is connected.
    var slowEvery = options.SlowPercent > 0 ? Math.Max(1, (int)Math.Round(100 / options.SlowPercent)) : 0;
    var connections = Enumerable.Range(0, options.Connections).Select(i =>
    {
        var slow = slowEvery > 0 && i % slowEvery == slowEvery - 1;
        if (slow)
        {
            ledger.MarkSlow(i);
        }

        return new SseLoadConnection(i, ledger, slow);
    }).ToArray();
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

    // Open-loop publisher (OpenLoopPublisher): event k is sent at start + k/R, to silo k mod S.
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 });

    // --tag-bytes: extra tags of 200 characters ("pad-i-xxx…") ride along with "bench-k" to make each event bigger.
    var padding = string.Concat(Enumerable.Range(0, options.TagBytes / 200).Select(i => $",\"pad-{i}-{new string('x', 192)}\""));
    using var publisher = new OpenLoopPublisher(http, options.Rate, padding);
    var invalidate = urls.Select(u => new Uri(u, "/api/cache/invalidate")).ToArray();
    Task<List<Task>> PublishAsync(int count, Func<int, string> tagOf, Action<int>? beforeSend, CancellationToken cutOff = default) =>
        publisher.PublishAsync(count, k => invalidate[k % silos], tagOf, beforeSend, cutOff);

    if (options.Warmup > 0)
    {
        // Grouped connections count their events, so warm-up there is whole rounds over every group's tag: it also
        // opens each tag's stream path before the measured events take it.
        var warmup = options.Groups > 0 ? WarmupRounds(options) * options.Groups : options.Warmup;
        await Task.WhenAll(await PublishAsync(warmup, k => options.Groups > 0 ? $"bench-t{k % options.Groups}" : $"warmup-{k}", null));
        await Task.Delay(500);
    }

    var idleFigures = "";
    if (options.Hold > 0)
    {
        var idle = await IdleMeter.MeasureAsync(servers, options.Settle, options.Hold);
        var idleSeconds = idle.Seconds;
        var idleCpu = idle.Cpu;
        var idlePercent = idle.Percent.ToString("0.00", CultureInfo.InvariantCulture);
        var jitPercent = idle.JitPercent.ToString("0.00", CultureInfo.InvariantCulture);
        var idleRss = (idle.ResidentBytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture);
        var idleFailed = connections.Count(c => c.Failed);
        Console.WriteLine(servers.Count == 0
            ? "idle: no started hub process to measure (--url)"
            : $"idle: connections={options.Connections} failed_conns={idleFailed} silos={servers.Count} settle={options.Settle.ToString(CultureInfo.InvariantCulture)}s " +
              $"measured={idleSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s cpu={idleCpu.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)}s " +
              $"=> {idlePercent}% of one core (of which JIT tiering {jitPercent}%), rss={idleRss}MB");
        idleFigures = $" idle_cpu={idlePercent}% idle_seconds={options.Hold.ToString(CultureInfo.InvariantCulture)} rss_idle={idleRss}MB";
        if (options.Events == 0)
        {
            await stop.CancelAsync();
            foreach (var connection in connections)
            {
                connection.Dispose();
            }

            return new RunResult(idleFailed == 0 ? 0 : 1, double.NaN, double.NaN, double.NaN);
        }
    }

    var before = await DiagnosticsAsync(http, urls);
    var hopsBefore = await HopFigures.ReadAsync(http, urls);
    var cpuBefore = servers.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.CpuTime());
    var clientCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
    var wallBefore = Stopwatch.GetTimestamp();
    using var cutOff = new CancellationTokenSource();
    if (options.MaxSeconds > 0)
    {
        cutOff.CancelAfter(TimeSpan.FromSeconds(options.MaxSeconds));
    }

    using var churnStop = new CancellationTokenSource();
    var churn = options.ChurnTags > 0 ? new TagChurn(http, urls[0], options.ChurnTags) : null;
    var churning = churn?.RunAsync(churnStop.Token) ?? Task.CompletedTask;
    var publishes = await PublishAsync(
        options.Events,
        options.Groups > 0 ? k => $"bench-t{k % options.Groups}" : k => $"bench-{k}",
        ledger.MarkSent,
        cutOff.Token);
    try
    {
        await Task.WhenAll(publishes).WaitAsync(cutOff.Token);
    }
    catch (OperationCanceledException)
    {
        // Cut off: what arrived so far is the figure.
    }

    await churnStop.CancelAsync();
    await churning;
    var expected = ledger.Expected;
    var lastCount = -1L;
    var lastProgress = Stopwatch.StartNew();
    while (ledger.Delivered < expected && lastProgress.Elapsed < options.Drain && !cutOff.IsCancellationRequested)
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
    var clientCpuAfter = Process.GetCurrentProcess().TotalProcessorTime;
    var rssEnd = servers.Sum(s => s.ResidentBytes());
    var after = await DiagnosticsAsync(http, urls);
    var hopsAfter = await HopFigures.ReadAsync(http, urls);
    var failed = connections.Count(c => c.Failed);
    await stop.CancelAsync();
    foreach (var connection in connections)
    {
        connection.Dispose();
    }

    var activeSeconds = cutOff.IsCancellationRequested
        ? Stopwatch.GetElapsedTime(wallBefore, wallAfter).TotalSeconds
        : Stopwatch.GetElapsedTime(wallBefore, Math.Max(ledger.LastDeliveryAt, wallBefore + 1)).TotalSeconds;
    var wallSeconds = Stopwatch.GetElapsedTime(wallBefore, wallAfter).TotalSeconds;
    string F(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);
    string Mb(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture);
    var serverFigures = servers.Count == 0
        ? "server_rss=n/a server_cpu=n/a"
        : $"server_rss={Mb(rssEnd)}MB rss_connected={Mb(rssConnected)}MB bytes_per_conn={(rssConnected / Math.Max(1, options.Connections)).ToString(CultureInfo.InvariantCulture)} " +
          $"server_cpu={F((cpuAfter - cpuBefore).TotalSeconds / wallSeconds * 100)}%";
    serverFigures += $" client_cpu={F((clientCpuAfter - clientCpuBefore).TotalSeconds / wallSeconds * 100)}%";
    var streamFigures = before is null || after is null
        ? ""
        : $" silos={silos} stream_messages={after.Value.Messages - before.Value.Messages} broadcast_design={(long)options.Events * silos} gaps={after.Value.Gaps - before.Value.Gaps} coalescings={after.Value.Coalescings - before.Value.Coalescings}";
    var slowCount = connections.Count(c => c.Slow);
    var deliveriesPerSecond = ledger.Delivered / activeSeconds;
    Console.WriteLine(
        $"hub={options.Hub} " + (cutOff.IsCancellationRequested ? $"cut_off_after={F(options.MaxSeconds)}s " : "") + (slowCount > 0 ? $"slow_conns={slowCount} " : "") +
        $"connections={options.Connections} events={options.Events} rate={F(options.Rate)}/s expected={expected} delivered={ledger.Delivered} " +
        $"lost={expected - ledger.Delivered} duplicates={ledger.Duplicates} strays={ledger.Strays} failed_conns={failed} publish_errors={publisher.Errors} " +
        $"p50={F(ledger.Latency.Percentile(50))}ms p99={F(ledger.Latency.Percentile(99))}ms max={F(ledger.Latency.MaxMilliseconds)}ms " +
        $"deliveries/s={deliveriesPerSecond.ToString("0", CultureInfo.InvariantCulture)} connect_time={F(connectTime.TotalSeconds)}s {serverFigures}{idleFigures}{streamFigures}{churn?.Figures()}");
    if (hopsBefore is not null && hopsAfter is not null)
    {
        Console.WriteLine(HopFigures.Describe(hopsBefore, hopsAfter));
    }

    var exitCode = ledger.Delivered == expected && ledger.Duplicates == 0 && ledger.Strays == 0 ? 0 : 1;
    return new RunResult(exitCode, deliveriesPerSecond, ledger.Latency.Percentile(50), ledger.Latency.Percentile(99));
}

static int WarmupRounds(BenchOptions options) =>
    options.Groups == 0 || options.Warmup == 0 ? 0 : Math.Max(1, options.Warmup / options.Groups);

// With --partition, silo s holds only groups g ≡ s (mod silos), so an event concerns one silo.
static int GroupOf(int connection, int silo, int silos, BenchOptions options) => options.Partition
    ? silo + silos * (connection / silos % (options.Groups / silos))
    : connection % options.Groups;

static async Task<(long Messages, long Gaps, long Coalescings)?> DiagnosticsAsync(HttpClient http, Uri[] urls)
{
    long messages = 0, gaps = 0, coalescings = 0;
    foreach (var url in urls)
    {
        try
        {
            var diagnostics = await http.GetFromJsonAsync<Diagnostics>(new Uri(url, "/api/cache-events/diagnostics"));
            messages += diagnostics!.StreamMessages;
            gaps += diagnostics.Gaps;
            coalescings += diagnostics.Coalescings;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    return (messages, gaps, coalescings);
}

internal sealed record Diagnostics(long StreamMessages, long Gaps, long Coalescings);

internal sealed record RunResult(int ExitCode, double DeliveriesPerSecond, double P50, double P99);
