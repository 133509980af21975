using System.Diagnostics;
using System.Globalization;
using System.Net;
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
await using var server = options.Url is null
    ? await ServerProcess.StartAsync("CountCachula.WebFrontend", options.ServerArgs, options.Verbose, TimeSpan.FromSeconds(60))
    : null;
var url = options.Url ?? server!.Url;
var endpoint = new IPEndPoint(IPAddress.Parse(url.Host == "localhost" ? "127.0.0.1" : url.Host), url.Port);

var ledger = new DeliveryLedger(options.Connections, options.Events);
using var stop = new CancellationTokenSource();
var connections = Enumerable.Range(0, options.Connections).Select(i => new SseLoadConnection(i, ledger)).ToArray();
var readers = new List<Task>(connections.Length);
var connectClock = Stopwatch.StartNew();
foreach (var batch in connections.Chunk(200))
{
    readers.AddRange(batch.Select(c => Task.Run(() => c.RunAsync(endpoint, "/api/cache-events", stop.Token))));
    await Task.WhenAll(batch.Select(c => c.Connected)).WaitAsync(TimeSpan.FromSeconds(60));
}

var connectTime = connectClock.Elapsed;
var rssConnected = server?.ResidentBytes() ?? 0;
// Open-loop publisher: event k is sent at start + k/R whatever the previous requests are doing.
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = url };
using var inFlight = new SemaphoreSlim(64);
var publishErrors = 0;

async Task<List<Task>> PublishAsync(int count, string prefix, Action<int>? beforeSend)
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
                using var content = new StringContent($"{{\"tags\":[\"{prefix}{number}\"]}}", Encoding.UTF8, "application/json");
                beforeSend?.Invoke(number);
                using var response = await http.PostAsync("/api/cache/invalidate", content);
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
    await Task.WhenAll(await PublishAsync(options.Warmup, "warmup-", null));
    await Task.Delay(500);
}

var cpuBefore = server?.CpuTime() ?? TimeSpan.Zero;
var wallBefore = Stopwatch.GetTimestamp();
var start = Stopwatch.GetTimestamp();
var publishes = await PublishAsync(options.Events, "bench-", ledger.MarkSent);
await Task.WhenAll(publishes);
var expected = (long)options.Connections * options.Events;
var drainClock = Stopwatch.StartNew();
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
var cpuAfter = server?.CpuTime() ?? TimeSpan.Zero;
var rssEnd = server?.ResidentBytes() ?? 0;
var failed = connections.Count(c => c.Failed);
await stop.CancelAsync();
foreach (var connection in connections)
{
    connection.Dispose();
}

var activeSeconds = Stopwatch.GetElapsedTime(start, Math.Max(ledger.LastDeliveryAt, start + 1)).TotalSeconds;
var wallSeconds = Stopwatch.GetElapsedTime(wallBefore, wallAfter).TotalSeconds;
string F(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);
string Mb(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture);
var serverFigures = server is null
    ? "server_rss=n/a server_cpu=n/a"
    : $"server_rss={Mb(rssEnd)}MB rss_connected={Mb(rssConnected)}MB bytes_per_conn={(rssConnected / options.Connections).ToString(CultureInfo.InvariantCulture)} " +
      $"server_cpu={F((cpuAfter - cpuBefore).TotalSeconds / wallSeconds * 100)}%";
Console.WriteLine(
    $"connections={options.Connections} events={options.Events} rate={F(options.Rate)}/s expected={expected} delivered={ledger.Delivered} " +
    $"lost={expected - ledger.Delivered} duplicates={ledger.Duplicates} strays={ledger.Strays} failed_conns={failed} publish_errors={publishErrors} " +
    $"p50={F(ledger.Latency.Percentile(50))}ms p99={F(ledger.Latency.Percentile(99))}ms max={F(ledger.Latency.MaxMilliseconds)}ms " +
    $"deliveries/s={(ledger.Delivered / activeSeconds).ToString("0", CultureInfo.InvariantCulture)} connect_time={F(connectTime.TotalSeconds)}s {serverFigures}");
return ledger.Delivered == expected && ledger.Duplicates == 0 ? 0 : 1;
