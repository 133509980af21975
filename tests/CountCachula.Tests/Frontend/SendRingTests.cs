using System.Net;
using System.Net.Sockets;
using CountCachula.AspNetCore.Sockets;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Frontend;

/// <summary>
/// The io_uring a writer shard sends through, on real TCP sockets over 127.0.0.1: several sockets' sends in one
/// submission arrive whole, and a send to a socket whose buffers are full answers at once with what it took instead of
/// holding up the submission. Where the kernel offers no io_uring, the ring is refused with a reason instead.
/// </summary>
public sealed class SendRingTests
{
    // 0 when io_uring is available to every process (the default of kernels that have the switch).
    private const string DisabledSwitch = "/proc/sys/kernel/io_uring_disabled";

    [Fact]
    public async Task Sends_to_several_sockets_in_one_submission_arrive_whole()
    {
        using var ring = RingOrReason();
        if (ring is null)
        {
            return;
        }

        var pairs = await ConnectedPairsAsync(3);
        try
        {
            var payloads = pairs.Select((_, i) => System.Text.Encoding.ASCII.GetBytes($"event: invalidate\ndata: socket-{i}\n\n")).ToArray();
            var results = Submit(ring, pairs, payloads);
            Assert.Equal(payloads.Select(p => p.Length), results);
            for (var i = 0; i < pairs.Length; i++)
            {
                Assert.Equal(payloads[i], await ReadExactlyAsync(pairs[i].Client, payloads[i].Length));
            }
        }
        finally
        {
            Dispose(pairs);
        }
    }

    [Fact]
    public async Task A_send_to_a_full_socket_answers_at_once_with_what_it_took()
    {
        using var ring = RingOrReason();
        if (ring is null)
        {
            return;
        }

        var pairs = await ConnectedPairsAsync(2);
        try
        {
            // The first client never reads: its server socket is filled up with ordinary sends first.
            var (stalledServer, _) = pairs[0];
            stalledServer.Blocking = false;
            var filler = new byte[64 * 1024];
            while (stalledServer.Send(filler, SocketFlags.None, out var error) > 0 && error == SocketError.Success)
            {
            }

            var payloads = new[] { new byte[1000], System.Text.Encoding.ASCII.GetBytes("event: invalidate\ndata: healthy\n\n") };

            // Off the test's thread with a deadline: a submission that waited for the stalled client would never return.
            var results = await Task.Run(() => Submit(ring, pairs, payloads)).WaitAsync(Timeouts.Default);
            Assert.True(results[0] is -11 or (>= 0 and < 1000), $"The full socket's send answered {results[0]}: neither -EAGAIN nor a short count.");
            Assert.Equal(payloads[1].Length, results[1]);
            Assert.Equal(payloads[1], await ReadExactlyAsync(pairs[1].Client, payloads[1].Length));
        }
        finally
        {
            Dispose(pairs);
        }
    }

    /// <summary>
    /// A ring, where the kernel allows io_uring; else null, after checking that it was refused with a reason (so the
    /// hub sends one system call each and says why in its diagnostics).
    /// </summary>
    private static SendRing? RingOrReason()
    {
        var ring = SendRing.TryCreate();
        var expected = OperatingSystem.IsLinux() && File.Exists(DisabledSwitch) && File.ReadAllText(DisabledSwitch).Trim() == "0";
        if (expected)
        {
            Assert.True(ring is not null, $"io_uring is enabled on this kernel, yet no ring: {SendRing.Unavailable}");
            Assert.Equal("batched (io_uring)", SendRing.Status);
        }
        else if (ring is null)
        {
            Assert.False(string.IsNullOrWhiteSpace(SendRing.Unavailable));
            Assert.StartsWith("one system call per send (", SendRing.Status);
        }

        return ring;
    }

    private static unsafe int[] Submit(SendRing ring, (Socket Server, Socket Client)[] pairs, byte[][] payloads)
    {
        var handles = payloads.Select(p => System.Runtime.InteropServices.GCHandle.Alloc(p, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
        try
        {
            for (var i = 0; i < pairs.Length; i++)
            {
                ring.Prepare((int)pairs[i].Server.Handle, (byte*)handles[i].AddrOfPinnedObject(), payloads[i].Length, i);
            }

            var results = new int[pairs.Length];
            ring.Submit(results);
            return results;
        }
        finally
        {
            foreach (var handle in handles)
            {
                handle.Free();
            }
        }
    }

    private static async Task<(Socket Server, Socket Client)[]> ConnectedPairsAsync(int count)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(count);
        var pairs = new (Socket, Socket)[count];
        for (var i = 0; i < count; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
            await client.ConnectAsync(listener.LocalEndPoint!);
            pairs[i] = (await listener.AcceptAsync(), client);
        }

        return pairs;
    }

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int length)
    {
        var buffer = new byte[length];
        using var reading = new CancellationTokenSource(Timeouts.Default);
        var read = 0;
        while (read < length)
        {
            var got = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, reading.Token);
            Assert.True(got > 0, "The connection closed before the bytes arrived.");
            read += got;
        }

        return buffer;
    }

    private static void Dispose((Socket Server, Socket Client)[] pairs)
    {
        foreach (var (server, client) in pairs)
        {
            server.Dispose();
            client.Dispose();
        }
    }
}
