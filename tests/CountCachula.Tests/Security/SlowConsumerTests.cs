using System.Net;
using System.Net.Sockets;
using System.Text;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Connections;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Security;

/// <summary>A hub whose connections coalesce after 64 pending frames.</summary>
public sealed class SlowConsumerFixture : FrontendFixture
{
    public const int Capacity = 64;

    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
        [new("CountCachula:ConnectionQueueCapacity", Capacity.ToString())];
}

/// <summary>
/// A client that stops reading while 1,000 big invalidations flow: the healthy client gets every one of them, the slow
/// client's queue never holds more than its bound, and when it reads again it receives one merged invalidation that
/// covers everything it missed (then the live stream, with ids still increasing).
/// </summary>
public sealed class SlowConsumerTests(SlowConsumerFixture fixture) : IClassFixture<SlowConsumerFixture>
{
    private const int Events = 1000;

    [Fact]
    public async Task A_stalled_client_is_coalesced_not_buffered_and_catches_up_with_one_invalidation()
    {
        var hub = fixture.Get<ICacheHub>();
        await using var healthy = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events");
        await healthy.NextOfTypeAsync("connected", "healthy client connected");

        // The slow client: a raw socket with a small receive buffer that reads its headers and 'connected', then stops.
        // HTTP/1.0, so the body comes unchunked and frames can be read straight off the socket.
        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await slow.ConnectAsync(new IPEndPoint(IPAddress.Loopback, fixture.BaseAddress.Port));
        await slow.SendAsync(Encoding.ASCII.GetBytes($"GET /api/cache-events HTTP/1.0\r\nHost: {fixture.BaseAddress.Authority}\r\nAccept: text/event-stream\r\n\r\n"));
        var received = new StringBuilder();
        string pending;
        var buffer = new byte[64 * 1024];
        using (var connecting = new CancellationTokenSource(Timeouts.Default))
        {
            while (!received.ToString().Contains("\"connectionId\":\"", StringComparison.Ordinal) || !received.ToString().Contains("\n\n", StringComparison.Ordinal))
            {
                var read = await slow.ReceiveAsync(buffer, SocketFlags.None, connecting.Token);
                Assert.True(read > 0, "The server closed the slow client's stream while it connected.");
                received.Append(Encoding.UTF8.GetString(buffer, 0, read));
            }
        }

        var text = received.ToString();
        pending = text[(text.LastIndexOf("\n\n", StringComparison.Ordinal) + 2)..];
        var idStart = text.IndexOf("\"connectionId\":\"", StringComparison.Ordinal) + 16;
        var connection = fixture.Registry.Find("default", text[idStart..text.IndexOf('"', idStart)]);
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
            pending += Encoding.UTF8.GetString(buffer, 0, read);
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
