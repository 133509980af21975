using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Sockets;
using CountCachula.AspNetCore.Sse;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Frontend;

/// <summary>
/// What the socket path does when something goes wrong underneath it: a send that throws ends its stream (broken, so
/// that the endpoint aborts the connection) instead of leaving it open; a ring whose completions cannot be waited for
/// is given up, and the sends it may still be making end their streams; a ring whose mapping fails leaves nothing
/// mapped behind.
/// </summary>
public sealed class SocketFaultTests
{
    [Fact]
    public async Task A_send_that_throws_ends_its_stream_broken()
    {
        var (server, client) = await ConnectedPairAsync();
        using (server)
        using (client)
        {
            var writer = new SocketChunkWriter(server, minRate: null, CancellationToken.None);
            var connection = new SseConnection(new WriterShards(), "socket-fault-" + Guid.NewGuid().ToString("N"), "acme", capacity: 16);
            var running = connection.RunAsync(new Pipe().Writer, [SseFrame.Create(null, "connected", "{}")], 0, CancellationToken.None, writer);
            await ReadSomeAsync(client);

            writer.SendForTests = static async _ =>
            {
                await Task.Yield();
                throw new NotSupportedException("A send fault injected by the test.");
            };
            Assert.True(connection.TryEnqueue(SseFrame.Create("1", "invalidate", """{"tags":["a"]}""", sequence: 1)));

            await running.WaitAsync(Timeouts.Default);
            Assert.True(connection.BodyBroken);
            Assert.False(connection.TryEnqueue(SseFrame.Create("2", "invalidate", """{"tags":["a"]}""", sequence: 2)));
        }
    }

    [Fact]
    public async Task A_batch_whose_sends_cannot_be_reaped_gives_up_its_ring_and_ends_their_streams()
    {
        var (server, client) = await ConnectedPairAsync();
        using (server)
        using (client)
        {
            var writer = new SocketChunkWriter(server, minRate: null, CancellationToken.None, batched: true);
            var connection = new SseConnection(new WriterShards(), "socket-abandoned-" + Guid.NewGuid().ToString("N"), "acme", capacity: 16);
            var running = connection.RunAsync(new Pipe().Writer, [SseFrame.Create(null, "connected", "{}")], 0, CancellationToken.None, writer);
            await ReadSomeAsync(client);

            // The writer batches once its first send (behind the response head) is through.
            var deadline = DateTime.UtcNow + Timeouts.Default;
            while (!writer.Batched && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            Assert.True(writer.Batched);
            var batch = new SocketSendBatch();
            batch.Open();
            try
            {
                connection.Deliver(SseFrame.Create("1", "invalidate", """{"tags":["a"]}""", sequence: 1), writeNow: true);
                if (batch.Ring is not { } ring)
                {
                    // No io_uring here: the send was made on its own, and nothing is left to check.
                    return;
                }

                ring.FailNextReapForTests = true;
            }
            finally
            {
                batch.Close();
            }

            await running.WaitAsync(Timeouts.Default);
            Assert.True(connection.BodyBroken);
            Assert.Null(batch.Ring);

            // The socket can still be closed (its descriptor was let go).
            await Task.Run(server.Dispose).WaitAsync(Timeouts.Default);
        }
    }

    [Fact]
    public void A_failed_reap_faults_the_ring_and_marks_the_sends_it_took_as_abandoned()
    {
        using var ring = SendRing.TryCreate();
        if (ring is null)
        {
            return;
        }

        var (left, right) = SocketPairOfThisProcess();
        using (left)
        using (right)
        {
            var results = new int[1];
            var payload = System.Text.Encoding.ASCII.GetBytes("data: x\n\n");
            var pin = System.Runtime.InteropServices.GCHandle.Alloc(payload, System.Runtime.InteropServices.GCHandleType.Pinned);
            unsafe
            {
                ring.FailNextReapForTests = true;
                ring.Prepare((int)left.Handle, (byte*)pin.AddrOfPinnedObject(), payload.Length, 0);
                ring.Submit(results);
                Assert.True(ring.Faulted);
                Assert.Equal(SendRing.Abandoned, results[0]);

                // A faulted ring submits nothing more.
                ring.Prepare((int)left.Handle, (byte*)pin.AddrOfPinnedObject(), payload.Length, 0);
                ring.Submit(results);
                Assert.Equal(SendRing.NotSubmitted, results[0]);
            }

            // The buffer of a send that may be in flight is never unpinned: the test leaks its pin as the hub would.
        }
    }

    [Fact]
    public void A_mapping_that_fails_in_the_constructor_leaves_nothing_mapped()
    {
        var before = SendRing.MappedOnThisThread(SendRing.SqesOffsetForTests);
        try
        {
            Assert.Null(SendRing.TryCreate());
            Assert.Equal(before, SendRing.MappedOnThisThread(SendRing.SqesOffsetForTests));
        }
        finally
        {
            SendRing.MappedOnThisThread(failMapAt: null);
        }
    }

    private static (Socket Left, Socket Right) SocketPairOfThisProcess()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        return (listener.Accept(), client);
    }

    private static async Task<(Socket Server, Socket Client)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        return (await listener.AcceptAsync(), client);
    }

    private static async Task ReadSomeAsync(Socket socket)
    {
        var buffer = new byte[4096];
        using var reading = new CancellationTokenSource(Timeouts.Default);
        Assert.True(await socket.ReceiveAsync(buffer, SocketFlags.None, reading.Token) > 0);
    }
}
