using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;

namespace CountCachula.Bench;

/// <summary>
/// <c>--non-reading N</c>: the memory a hub holds for subscribers that never read. N streams are opened on raw sockets
/// with a 4 KB receive buffer, which send their request and then never read a byte, while big custom events
/// (<c>--event-bytes</c> of data, all line breaks by default: the worst case, each one a <c>data:</c> line on the wire)
/// are published at <c>--rate</c> for <c>--duration</c> seconds; one witness stream reads everything throughout. Then the
/// attacker closes its sockets and the hub's RSS is watched for <c>--after</c> seconds. Printed: the idle RSS before, the
/// peak over it, the RSS at the end of the watch over it, how many of the N streams the hub let go and how soon after
/// the first event, and whether the witness stayed connected and how many events it got.
/// </summary>
internal static class NonReadingRun
{
    private const string EventName = "bench-big";

    public static async Task<int> RunAsync(BenchOptions options) =>
        await BenchServers.RunAsync(options, async servers => (object)await AttackAsync(options, servers[0])) is int code ? code : 1;

    private static async Task<int> AttackAsync(BenchOptions options, ServerProcess server)
    {
        var endpoint = new IPEndPoint(IPAddress.Parse(server.Url.Host), server.Url.Port);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromSeconds(30) };
        var broadcast = new Uri(server.Url, "/api/cache/broadcast");
        using var stopWitness = new CancellationTokenSource();
        var witness = new Witness();
        var witnessRun = witness.RunAsync(endpoint, stopWitness.Token);
        await witness.Connected.WaitAsync(TimeSpan.FromSeconds(60));

        // Warm-up: small events, so JIT tiering and the grains' activation are not what the attack measures.
        var small = Body(EventName, 1024, options.EventText);
        for (var k = 0; k < 200; k++)
        {
            using var content = new ByteArrayContent(small);
            content.Headers.ContentType = new("application/json");
            using var _ = await http.PostAsync(broadcast, content);
        }

        await Task.Delay(TimeSpan.FromSeconds(options.Settle));
        var rssIdle = server.ResidentBytes();
        var connectionsIdle = await ConnectionsAsync(http, server.Url) ?? 1;

        // The attackers: request sent, nothing ever read.
        var attackers = new List<Socket>(options.NonReading);
        for (var i = 0; i < options.NonReading; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
            await socket.ConnectAsync(endpoint);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /api/cache-events HTTP/1.1\r\nHost: {endpoint}\r\nAccept: text/event-stream\r\n\r\n"));
            attackers.Add(socket);
        }

        var opened = await UntilConnectionsAsync(http, server.Url, connectionsIdle + options.NonReading, TimeSpan.FromSeconds(30));

        // The attack: open loop, event k at start + k/R; at most 64 publishes in flight (past that one is skipped).
        var body = Body(EventName, options.EventBytes, options.EventText);
        var clock = Stopwatch.StartNew();
        var peak = rssIdle;
        var statuses = new Dictionary<int, int>();
        var errors = 0;
        var skipped = 0;
        var inFlight = 0;
        var letGo = new List<double>();
        var lastConnections = opened;
        var witnessAtStart = witness.Events;
        var publishes = new List<Task>();
        var total = (int)(options.Rate * options.Duration);
        var nextSample = TimeSpan.Zero;
        for (var k = 0; k < total; k++)
        {
            var due = TimeSpan.FromSeconds(k / options.Rate);
            while (clock.Elapsed < due)
            {
                if (clock.Elapsed >= nextSample)
                {
                    peak = Math.Max(peak, server.ResidentBytes());
                    nextSample = clock.Elapsed + TimeSpan.FromMilliseconds(100);
                }

                await Task.Delay(1);
            }

            if (Volatile.Read(ref inFlight) >= 64)
            {
                skipped++;
                continue;
            }

            Interlocked.Increment(ref inFlight);
            publishes.Add(Task.Run(async () =>
            {
                try
                {
                    using var content = new ByteArrayContent(body);
                    content.Headers.ContentType = new("application/json");
                    using var response = await http.PostAsync(broadcast, content);
                    lock (statuses)
                    {
                        statuses[(int)response.StatusCode] = statuses.GetValueOrDefault((int)response.StatusCode) + 1;
                    }
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                {
                    Interlocked.Increment(ref errors);
                }
                finally
                {
                    Interlocked.Decrement(ref inFlight);
                }
            }));

            if (k % (int)Math.Max(1, options.Rate / 2) == 0 && await ConnectionsAsync(http, server.Url) is { } now)
            {
                // Twice a second: how many attackers the hub has let go so far, and when.
                for (var c = now; c < lastConnections; c++)
                {
                    letGo.Add(clock.Elapsed.TotalSeconds);
                }

                lastConnections = Math.Min(lastConnections, now);
            }
        }

        await Task.WhenAll(publishes).WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var attackSeconds = clock.Elapsed.TotalSeconds;
        var witnessEvents = witness.Events - witnessAtStart;
        var stillOpen = (await ConnectionsAsync(http, server.Url) ?? 0) - connectionsIdle;
        for (var c = connectionsIdle + Math.Max(0, stillOpen); c < lastConnections; c++)
        {
            letGo.Add(attackSeconds);
        }

        // The attack ends: the attacker goes away. RSS is watched for --after seconds from here.
        foreach (var socket in attackers)
        {
            socket.Dispose();
        }

        var after = Stopwatch.StartNew();
        var rssAfter = server.ResidentBytes();
        double? backWithin50 = null;
        var marks = new Queue<int>([5, 10, 20, 30, 45, 60, 90, 120]);
        var timeline = new List<string>();
        while (after.Elapsed < TimeSpan.FromSeconds(options.After))
        {
            rssAfter = server.ResidentBytes();
            if (marks.TryPeek(out var mark) && after.Elapsed >= TimeSpan.FromSeconds(mark))
            {
                marks.Dequeue();
                timeline.Add($"{mark}s:{(rssAfter - rssIdle) / 1024 / 1024}");
            }

            peak = Math.Max(peak, rssAfter);
            if (backWithin50 is null && rssAfter - rssIdle <= 50L * 1024 * 1024)
            {
                backWithin50 = after.Elapsed.TotalSeconds;
            }

            await Task.Delay(100);
        }

        var witnessAlive = !witnessRun.IsCompleted;
        await stopWitness.CancelAsync();
        witness.Dispose();
        string Mb(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture);
        string S(double seconds) => seconds.ToString("0.0", CultureInfo.InvariantCulture);
        var accepted = statuses.GetValueOrDefault(202);
        var refused = statuses.Where(s => s.Key != 202).Sum(s => s.Value);
        Console.WriteLine(
            $"non_reading={options.NonReading} opened={opened - connectionsIdle} event_bytes={options.EventBytes} event_text={options.EventText} wire_bytes={WireBytes(options.EventBytes, options.EventText)} " +
            $"rate={S(options.Rate)}/s duration={S(options.Duration)}s published={accepted} refused={refused}{(refused > 0 ? $"({string.Join(',', statuses.Where(s => s.Key != 202).Select(s => $"{s.Key}x{s.Value}"))})" : "")} errors={errors} skipped={skipped} " +
            $"rss_idle={Mb(rssIdle)}MB peak_over_idle={Mb(peak - rssIdle)}MB rss_after_{S(options.After)}s_over_idle={Mb(rssAfter - rssIdle)}MB " +
            $"back_within_50MB_after={(backWithin50 is { } b ? S(b) + "s" : "never")} " +
            $"let_go={letGo.Count}/{options.NonReading} let_go_first={(letGo.Count > 0 ? S(letGo.Min()) + "s" : "n/a")} let_go_last={(letGo.Count > 0 ? S(letGo.Max()) + "s" : "n/a")} " +
            $"witness_connected={witnessAlive} witness_events={witnessEvents} after_over_idle_mb=[{string.Join(' ', timeline)}]");
        return witnessAlive && peak - rssIdle <= options.PeakLimitBytes ? 0 : 1;
    }

    /// <summary>The request body of one custom event with <paramref name="bytes"/> of data: line breaks, or text when asked.</summary>
    private static byte[] Body(string name, int bytes, bool text)
    {
        var data = text ? new string('x', bytes) : string.Concat(Enumerable.Repeat("\\n", bytes));
        return Encoding.UTF8.GetBytes($"{{\"event\":\"{name}\",\"data\":\"{data}\"}}");
    }

    /// <summary>What one event takes on the wire: a <c>data: </c> line per line of the data.</summary>
    private static int WireBytes(int bytes, bool text) => text ? bytes + 7 : (bytes + 1) * 7;

    private static async Task<int?> ConnectionsAsync(HttpClient http, Uri url)
    {
        try
        {
            var diagnostics = await http.GetFromJsonAsync<Diagnostics>(new Uri(url, "/api/cache-events/diagnostics"));
            return diagnostics?.Connections;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    private static async Task<int> UntilConnectionsAsync(HttpClient http, Uri url, int count, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var now = 0;
        while (clock.Elapsed < timeout && (now = await ConnectionsAsync(http, url) ?? 0) < count)
        {
            await Task.Delay(100);
        }

        return now;
    }

    private sealed record Diagnostics(int Connections);

    /// <summary>A stream that reads everything, counting the big events' blank-line ends.</summary>
    private sealed class Witness : IDisposable
    {
        private static readonly byte[] s_eventLine = Encoding.ASCII.GetBytes("event: " + EventName + "\n");
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _events;

        public Task Connected => _connected.Task;

        public long Events => Interlocked.Read(ref _events);

        public async Task RunAsync(IPEndPoint server, CancellationToken cancellationToken)
        {
            await _socket.ConnectAsync(server, cancellationToken);
            await _socket.SendAsync(Encoding.ASCII.GetBytes($"GET /api/cache-events HTTP/1.1\r\nHost: {server}\r\nAccept: text/event-stream\r\n\r\n"), cancellationToken);
            var buffer = new byte[256 * 1024];
            var matched = 0;
            try
            {
                while (true)
                {
                    var read = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                    if (read == 0)
                    {
                        return;
                    }

                    _connected.TrySetResult();

                    // Counts "event: bench-big\n" across reads (chunk framing never splits it: a frame is one chunk).
                    foreach (var b in buffer.AsSpan(0, read))
                    {
                        matched = b == s_eventLine[matched] ? matched + 1 : b == s_eventLine[0] ? 1 : 0;
                        if (matched == s_eventLine.Length)
                        {
                            Interlocked.Increment(ref _events);
                            matched = 0;
                        }
                    }
                }
            }
            catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        public void Dispose() => _socket.Dispose();
    }
}
