using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Sockets;
using CountCachula.AspNetCore.Sse;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Frontend;

/// <summary>
/// A stream that fell behind is caught up on its socket in a few chunks of at most <see cref="SocketSink.GatherLimit"/>
/// bytes each, its frames whole and in order: not one send per frame, and never one copy of the whole backlog.
/// </summary>
public sealed class SocketBacklogTests
{
    [Fact]
    public async Task A_backlog_bigger_than_the_gather_limit_arrives_whole_and_in_order_in_a_few_chunks()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();

        // 200 frames of about 600 bytes wait before the stream's first write: about 120 KB, nearly four gather limits.
        var connection = new SseConnection(new WriterShards(), "backlog-" + Guid.NewGuid().ToString("N"), "acme", capacity: 1024);
        var padding = new string('x', 550);
        for (var sequence = 1; sequence <= 200; sequence++)
        {
            Assert.True(connection.TryEnqueue(SseFrame.Create(sequence.ToString(), "custom", $"{{\"n\":{sequence},\"pad\":\"{padding}\"}}", sequence: sequence)));
        }

        connection.Finish(SseFrame.Create(null, "bye", "{}"));
        var writer = new SocketChunkWriter(server, minRate: null, CancellationToken.None);
        var running = connection.RunAsync(new Pipe().Writer, [SseFrame.Create(null, "connected", "{}")], 0, CancellationToken.None, writer);

        var chunks = await ReadChunksUntilAsync(client, "event: bye");
        await running.WaitAsync(Timeouts.Default);

        var body = string.Concat(chunks);
        var ids = body.Split('\n').Where(l => l.StartsWith("id: ", StringComparison.Ordinal)).Select(l => int.Parse(l[4..])).ToList();
        Assert.Equal(Enumerable.Range(1, 200), ids);
        Assert.All(chunks, c => Assert.InRange(Encoding.UTF8.GetByteCount(c), 1, SocketSink.GatherLimit));
        // connected, the backlog in parts of at most the limit (4 of them for 120 KB, 5 at worst), and the goodbye.
        Assert.InRange(chunks.Count, 5, 8);
    }

    /// <summary>Reads the chunked body until a chunk contains <paramref name="last"/>; returns each chunk's data.</summary>
    private static async Task<List<string>> ReadChunksUntilAsync(Socket socket, string last)
    {
        var received = new List<byte>();
        var buffer = new byte[65536];
        using var reading = new CancellationTokenSource(Timeouts.Default);
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, reading.Token);
            Assert.True(read > 0, "The stream ended before its last frame.");
            received.AddRange(buffer.AsSpan(0, read));
            var chunks = Parse([.. received]);
            if (chunks.Count > 0 && chunks[^1].Contains(last, StringComparison.Ordinal))
            {
                return chunks;
            }
        }
    }

    /// <summary>The data of every complete chunk in <paramref name="bytes"/>.</summary>
    private static List<string> Parse(byte[] bytes)
    {
        var chunks = new List<string>();
        var at = 0;
        while (true)
        {
            var lineEnd = Array.IndexOf(bytes, (byte)'\n', at);
            if (lineEnd < 0)
            {
                return chunks;
            }

            var size = Convert.ToInt32(Encoding.ASCII.GetString(bytes, at, lineEnd - at).TrimEnd('\r'), 16);
            var start = lineEnd + 1;
            if (start + size + 2 > bytes.Length)
            {
                return chunks;
            }

            chunks.Add(Encoding.UTF8.GetString(bytes, start, size));
            at = start + size + 2;
        }
    }
}
