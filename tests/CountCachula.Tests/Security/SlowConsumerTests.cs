using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace CountCachula.Tests.Security;

/// <summary>
/// A hub whose connections coalesce after 64 pending frames, and that lets a client pause for up to 5 minutes (the
/// slow client here stops reading for as long as 1,000 events take, then catches up).
/// </summary>
public class SlowConsumerFixture : FrontendFixture
{
    public const int Capacity = 64;

    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
        [new("CountCachula:ConnectionQueueCapacity", Capacity.ToString()), new("CountCachula:SlowReaderGrace", "00:05:00")];
}

/// <summary>The same, with every send its own system call (no io_uring batches).</summary>
public sealed class UnbatchedSlowConsumerFixture : SlowConsumerFixture
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
        [.. base.Settings, new("CountCachula:BatchSocketSends", "false")];
}

/// <summary>
/// A client that stops reading while 1,000 big invalidations flow, its sends batched with the healthy client's (the
/// default): see <see cref="SlowConsumerScenario"/>.
/// </summary>
public sealed class SlowConsumerTests(SlowConsumerFixture fixture) : SlowConsumerScenario(fixture), IClassFixture<SlowConsumerFixture>;

/// <summary>The same with each send made on its own (<c>CountCachula:BatchSocketSends</c> false).</summary>
public sealed class UnbatchedSlowConsumerTests(UnbatchedSlowConsumerFixture fixture) : SlowConsumerScenario(fixture), IClassFixture<UnbatchedSlowConsumerFixture>;

/// <summary>
/// A client that stops reading while 1,000 big invalidations flow: the healthy client gets every one of them, the slow
/// client's queue never holds more than its bound, and when it reads again it receives one merged invalidation that
/// covers everything it missed (then the live stream, with ids still increasing). A send its full socket took only part
/// of continues where it stopped, so its chunked body stays whole.
/// </summary>
public abstract class SlowConsumerScenario(SlowConsumerFixture fixture)
{
    private const int Events = 1000;

    [Theory]
    [InlineData("1.0")]
    [InlineData("1.1")]
    public async Task A_stalled_client_is_coalesced_not_buffered_and_catches_up_with_one_invalidation(string version)
    {
        var hub = fixture.Get<ICacheHub>();
        await using var healthy = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events");
        await healthy.NextOfTypeAsync("connected", "healthy client connected");

        // The slow client: a raw socket with a small receive buffer that reads its headers and 'connected', then stops.
        // Over HTTP/1.0 the body comes unchunked, through Kestrel; over HTTP/1.1 it is chunked and written straight to
        // the socket (see SocketWriteTests), so it is decoded here.
        var (socket, body, connectionId) = await ResponseBody.OpenStreamAsync(fixture.BaseAddress, version);
        using var slow = socket;
        var buffer = new byte[64 * 1024];
        Assert.Equal(version == "1.1", body.Chunked);
        var text = body.Text;
        var pending = text[(text.LastIndexOf("\n\n", StringComparison.Ordinal) + 2)..];
        var connection = fixture.Registry.Find("default", connectionId);
        Assert.NotNull(connection);

        // 1,000 invalidations of ~4 KB each (4 MB in all) while the slow client reads nothing.
        var published = new HashSet<string>(StringComparer.Ordinal);
        var maxPending = 0;
        for (var k = 0; k < Events; k++)
        {
            string[] tags = [$"slow-{k}", .. Enumerable.Range(0, 19).Select(p => $"pad-{k % 7}-{p}-{new string('x', 190)}")];
            published.UnionWith(tags);
            await hub.InvalidateAsync(tags);
            maxPending = Math.Max(maxPending, connection.PendingCount);
        }

        // The healthy client is not held up: it receives all 1,000, in order.
        for (var k = 0; k < Events; k++)
        {
            var item = await healthy.NextOfTypeAsync("invalidate", $"healthy client, event {k} of {Events}");
            Assert.StartsWith($"slow-{k},", item.Data);
        }

        maxPending = Math.Max(maxPending, connection.PendingCount);
        Assert.True(maxPending <= SlowConsumerFixture.Capacity + 1, $"The slow client's queue reached {maxPending} frames (bound {SlowConsumerFixture.Capacity} + the merged one).");
        Assert.True(connection.Coalescings > 0, "The slow client never fell behind far enough to be coalesced; the test did not stall it.");

        // It reads again: what the socket buffers held, then the merged invalidation, then the newest live frames.
        // Everything it was sent must cover every tag published, and its last id must be the last event's.
        var lastId = await LastIdAsync(hub);
        var tagsSeen = new HashSet<string>(StringComparer.Ordinal);
        var sawMerged = false;
        using var reading = new CancellationTokenSource(Timeouts.Default);
        var lastSeenId = "";
        while (lastSeenId != lastId)
        {
            var read = await slow.ReceiveAsync(buffer, SocketFlags.None, reading.Token);
            Assert.True(read > 0, "The server closed the slow client's stream instead of letting it catch up.");
            pending += body.Take(buffer.AsSpan(0, read));
            int end;
            while ((end = pending.IndexOf("\n\n", StringComparison.Ordinal)) >= 0)
            {
                var frame = pending[..end];
                pending = pending[(end + 2)..];
                var id = frame.Split('\n').FirstOrDefault(l => l.StartsWith("id: ", StringComparison.Ordinal))?[4..];
                var data = frame.Split('\n').FirstOrDefault(l => l.StartsWith("data: ", StringComparison.Ordinal))?[6..];
                if (frame.Contains("event: invalidate", StringComparison.Ordinal) && data is not null)
                {
                    var tags = data.Split(',');
                    sawMerged |= tags.Length > 20 || tags.Contains("*");
                    tagsSeen.UnionWith(tags);
                }

                lastSeenId = id ?? lastSeenId;
            }
        }

        Assert.True(sawMerged, "No merged invalidation reached the slow client.");
        Assert.True(tagsSeen.Contains("*") || published.IsSubsetOf(tagsSeen),
            $"The slow client missed {published.Except(tagsSeen).Count()} tags without being told to drop everything ('*').");

        // The operator can see how those sends were made.
        using var diagnostics = await fixture.Http.GetFromJsonAsync<JsonDocument>("/api/cache-events/diagnostics");
        var socketSends = diagnostics!.RootElement.GetProperty("socketSends").GetString();
        if (fixture is UnbatchedSlowConsumerFixture)
        {
            Assert.Equal("one system call per send (CountCachula:BatchSocketSends is false)", socketSends);
        }
        else
        {
            Assert.Equal(SendRing.Status, socketSends);
            Assert.DoesNotContain("not known yet", socketSends, StringComparison.Ordinal);
        }
    }

    // The id of the newest event: a sentinel published now and read back by a fresh client gives it.
    private async Task<string> LastIdAsync(ICacheHub hub)
    {
        await using var probe = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?tags=probe");
        await probe.NextOfTypeAsync("connected", "probe connected");
        await hub.InvalidateAsync("probe");
        var item = await probe.NextOfTypeAsync("invalidate", "probe sentinel");
        return item.EventId!;
    }
}

/// <summary>A hub whose Kestrel wants responses read at 1 MB/s after a 2 s grace period.</summary>
public sealed class StalledConsumerFixture : IAsyncLifetime
{
    public TestFrontend Frontend { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Frontend = await TestFrontend.StartAsync("test-" + Guid.NewGuid().ToString("N")[..8], settings: [new("CountCachula:ConnectionQueueCapacity", "64")], configure: builder =>
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 1_000_000, gracePeriod: TimeSpan.FromSeconds(2))));

    public async Task DisposeAsync() => await Frontend.DisposeAsync();
}

/// <summary>
/// A client that stops reading for good is let go once its writes stall past Kestrel's minimum response data rate,
/// whether Kestrel writes its body (HTTP/1.0) or the stream writes it to the socket (HTTP/1.1): an idle reader cannot
/// hold a connection and its buffers forever.
/// </summary>
public sealed class StalledConsumerTests(StalledConsumerFixture fixture) : IClassFixture<StalledConsumerFixture>
{
    [Theory]
    [InlineData("1.0")]
    [InlineData("1.1")]
    public async Task A_client_that_never_reads_again_is_disconnected_by_the_minimum_data_rate(string version)
    {
        var frontend = fixture.Frontend;
        var hub = frontend.Get<ICacheHub>();
        var (socket, _, id) = await ResponseBody.OpenStreamAsync(frontend.BaseAddress, version);
        using var slow = socket;
        var buffer = new byte[64 * 1024];
        var connection = frontend.Registry.Find("default", id);
        Assert.NotNull(connection);

        // Big invalidations until the server lets the client go, or 5,000 of them (20 MB, more than any socket buffers
        // hold). A coalescing alone does not prove the writes stalled: on a busy box the writer shard may fall behind
        // while the client's buffers still have room, and a stream whose last write went through is not stalled.
        for (var k = 0; k < 5000 && frontend.Registry.Find("default", id) is not null; k++)
        {
            await hub.InvalidateAsync([$"stall-{k}", .. Enumerable.Range(0, 19).Select(p => $"pad-{p}-{new string('x', 190)}")]);
        }

        Assert.True(connection.Coalescings > 0 || frontend.Registry.Find("default", id) is null, "5,000 big invalidations did not stall the client's writes.");

        // The server gives up on it and closes the connection.
        await frontend.Registry.UntilAsync(registry => registry.Find("default", id) is null, "the stalled stream is let go");
        using var draining = new CancellationTokenSource(Timeouts.Default);
        try
        {
            while (await slow.ReceiveAsync(buffer, SocketFlags.None, draining.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // Reset: as good as closed.
        }
    }
}

/// <summary>A response read off a raw socket: its head, then its body decoded (chunked or not) as text.</summary>
internal sealed class ResponseBody
{
    private readonly List<byte> _raw = [];
    private readonly StringBuilder _text = new();
    private bool _inBody;
    private long _chunkLeft = -1;

    public bool Chunked { get; private set; }

    /// <summary>All of the body decoded so far.</summary>
    public string Text => _text.ToString();

    /// <summary>
    /// Opens <c>/api/cache-events</c> over HTTP/<paramref name="version"/> on a raw socket with a small receive buffer
    /// (a client that can be made to stop reading) and reads until its <c>connected</c> event is complete.
    /// </summary>
    public static async Task<(Socket Socket, ResponseBody Body, string ConnectionId)> OpenStreamAsync(Uri baseAddress, string version)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, baseAddress.Port));
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /api/cache-events HTTP/{version}\r\nHost: {baseAddress.Authority}\r\nAccept: text/event-stream\r\n\r\n"));
        var body = new ResponseBody();
        var buffer = new byte[64 * 1024];
        using var connecting = new CancellationTokenSource(Timeouts.Default);
        while (!body.Text.Contains("\"connectionId\":\"", StringComparison.Ordinal) || !body.Text.Contains("\n\n", StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, connecting.Token);
            Assert.True(read > 0, "The server closed the stream while it connected.");
            body.Feed(buffer.AsSpan(0, read));
        }

        var text = body.Text;
        var idStart = text.IndexOf("\"connectionId\":\"", StringComparison.Ordinal) + 16;
        return (socket, body, text[idStart..text.IndexOf('"', idStart)]);
    }

    public void Feed(ReadOnlySpan<byte> bytes) => Take(bytes);

    /// <summary>Adds bytes from the socket; returns the body text they completed.</summary>
    public string Take(ReadOnlySpan<byte> bytes)
    {
        _raw.AddRange(bytes.ToArray());
        var start = _text.Length;
        if (!_inBody)
        {
            var head = Encoding.ASCII.GetString([.. _raw]);
            var end = head.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                return "";
            }

            _inBody = true;
            Chunked = head[..end].Contains("transfer-encoding: chunked", StringComparison.OrdinalIgnoreCase);
            _raw.RemoveRange(0, end + 4);
        }

        while (_raw.Count > 0)
        {
            if (!Chunked)
            {
                _text.Append(Encoding.UTF8.GetString([.. _raw]));
                _raw.Clear();
                break;
            }

            if (_chunkLeft < 0)
            {
                var line = Encoding.ASCII.GetString([.. _raw]);
                var end = line.IndexOf("\r\n", StringComparison.Ordinal);
                if (end < 0)
                {
                    break;
                }

                _chunkLeft = Convert.ToInt64(line[..end], 16);
                Assert.True(_chunkLeft > 0, "The stream's body ended while the client was reading it.");
                _raw.RemoveRange(0, end + 2);
                continue;
            }

            if (_raw.Count < _chunkLeft + 2)
            {
                break;
            }

            _text.Append(Encoding.UTF8.GetString([.. _raw.Take((int)_chunkLeft)]));
            Assert.Equal("\r\n", Encoding.ASCII.GetString([.. _raw.Skip((int)_chunkLeft).Take(2)]));
            _raw.RemoveRange(0, (int)_chunkLeft + 2);
            _chunkLeft = -1;
        }

        return _text.ToString(start, _text.Length - start);
    }
}
