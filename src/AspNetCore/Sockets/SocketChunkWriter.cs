using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace CountCachula.AspNetCore.Sockets;

/// <summary>
/// Writes the rest of a stream's chunked HTTP/1.1 body straight to its socket, after Kestrel has sent the response head:
/// one non-blocking <c>send</c> per write and nothing in between (no output pipe, no second thread, no copy: a frame
/// already carries its chunk). Kestrel keeps the request and ends the body with its own last chunk once the stream is
/// over. <c>SocketWriteEligibility</c> decides which connections may be written this way.
/// </summary>
/// <remarks>
/// Only one write is ever in flight (the connection's state machine sees to that). The first write goes through the
/// socket's asynchronous send queue, behind anything Kestrel may still be sending of the head; once that is through,
/// every write first tries a non-blocking send and queues only what the socket did not take. That send is made by the
/// writer shard's <see cref="SocketSendBatch"/> when there is one (see <see cref="BeginBatchedSend"/>), else here.
/// </remarks>
internal sealed class SocketChunkWriter
{
    /// <summary>What <see cref="BeginBatchedSend"/> answers when the socket is already closed.</summary>
    public const int SocketClosed = -2;

    /// <summary>
    /// The Linux send(2) flags of every send to a stream's socket, here and in a <see cref="SendRing"/>: never block,
    /// never raise SIGPIPE (MSG_DONTWAIT | MSG_NOSIGNAL).
    /// </summary>
    internal const int NonBlockingSendFlags = 0x40 | 0x4000;

    // Cleared for good if the C library's send cannot be called here (another OS or C library): Socket.Send then.
    private static bool s_rawSend = OperatingSystem.IsLinux();

    private readonly Socket _socket;
    private readonly MinDataRate? _minRate;
    private readonly CancellationToken _aborted;
    private readonly SafeSocketHandle _handle;
    private readonly bool _batched;
    private readonly TimeSpan _slowReaderGrace;
    private bool _behindKestrel;

    /// <param name="socket">The connection's socket, after Kestrel sent the response head.</param>
    /// <param name="minRate">
    /// The request's minimum response data rate (Kestrel's <c>MinResponseDataRate</c>): a send the socket queued must
    /// finish within its grace period plus its size at that rate, else the client is taken for gone, as Kestrel would.
    /// </param>
    /// <param name="aborted">Fires when the request is aborted.</param>
    /// <param name="batched">Whether the writer shard's batch may make this stream's sends (<c>CountCachula:BatchSocketSends</c>).</param>
    /// <param name="slowReaderGrace">
    /// The longest a send the socket could not take at once may wait (<c>CountCachula:SlowReaderGrace</c>), whatever its
    /// size: past it the client is taken for gone. Null: 5 s.
    /// </param>
    public SocketChunkWriter(Socket socket, MinDataRate? minRate, CancellationToken aborted, bool batched = false, TimeSpan? slowReaderGrace = null)
    {
        _socket = socket;
        _slowReaderGrace = slowReaderGrace ?? TimeSpan.FromSeconds(5);
        _batched = batched;
        _minRate = minRate;
        _aborted = aborted;

        // Only this writer's synchronous sends see the flag: they return at once when the socket's buffer is full
        // instead of blocking a writer thread. Kestrel's receives are asynchronous and unaffected.
        socket.Blocking = false;

        _handle = socket.SafeHandle;
    }

    /// <summary>
    /// True once a send failed or was given up: a chunk may have been cut short, so the connection must be aborted
    /// rather than its body ended.
    /// </summary>
    public bool Broken { get; private set; }

    /// <summary>True once a send was given up because the client took none of it within the grace (it stopped reading).</summary>
    public bool Stalled { get; private set; }

    /// <summary>Starts loading this writer's fields (see <see cref="CacheLine"/>).</summary>
    public void PrefetchSelf()
    {
        CacheLine.Prefetch(this);
        CacheLine.Prefetch(ref _behindKestrel);
    }

    /// <summary>Starts loading the socket handle's state, which each send reads and counts on.</summary>
    public void PrefetchHandle() => CacheLine.Prefetch(_handle);

    /// <summary>Sends <paramref name="bytes"/> (one or more whole chunks).</summary>
    /// <returns>True when the stream cannot be written any more (the client is gone or the request was aborted).</returns>
    public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes)
    {
        if (SendForTests is { } send)
        {
            return send(bytes);
        }

        if (_behindKestrel)
        {
            var sent = TrySend(bytes.Span);
            if (sent == bytes.Length)
            {
                return new ValueTask<bool>(false);
            }

            if (sent < 0)
            {
                Broken = true;
                return new ValueTask<bool>(true);
            }

            bytes = bytes[sent..];
        }

        return SendQueuedAsync(bytes);
    }

    /// <summary>
    /// One non-blocking send: how many bytes the socket took (0 when it took none: its buffer is full, or the send failed
    /// and the queued send will say so), or -1 when the socket is already closed.
    /// </summary>
    private int TrySend(ReadOnlySpan<byte> bytes)
    {
        if (s_rawSend)
        {
            // The descriptor is held only for the call, as Socket.Send holds it: Kestrel may close the socket at any
            // time, and a send by number after that could reach another connection that reused it.
            var added = false;
            try
            {
                _handle.DangerousAddRef(ref added);
                var fd = (int)_handle.DangerousGetHandle();
                var sent = Send(fd, ref System.Runtime.InteropServices.MemoryMarshal.GetReference(bytes), bytes.Length, NonBlockingSendFlags);

                // A failed send (a full buffer, or a real error) is not told apart here: reading errno would cost two
                // runtime calls on every send. The socket's asynchronous send that follows a partial one finds out.
                return sent >= 0 ? (int)sent : 0;
            }
            catch (ObjectDisposedException)
            {
                return -1;
            }
            catch (Exception exception) when (exception is DllNotFoundException or EntryPointNotFoundException)
            {
                s_rawSend = false;
            }
            finally
            {
                if (added)
                {
                    _handle.DangerousRelease();
                }
            }
        }

        try
        {
            var sent = _socket.Send(bytes, SocketFlags.None, out var error);
            return error is SocketError.Success or SocketError.WouldBlock ? sent : -1;
        }
        catch (ObjectDisposedException)
        {
            return -1;
        }
    }

    /// <summary>Whether a <see cref="SocketSendBatch"/> may make this writer's next send (see <see cref="BeginBatchedSend"/>).</summary>
    public bool Batched => _batched && _behindKestrel;

    /// <summary>
    /// The socket's descriptor for a send that a <see cref="SocketSendBatch"/> makes (only when <see cref="Batched"/>),
    /// held open (as a send of its own would hold it) until <see cref="EndBatchedSend"/>; or <see cref="SocketClosed"/>
    /// (the stream is then broken).
    /// </summary>
    public int BeginBatchedSend()
    {
        try
        {
            var added = false;
            _handle.DangerousAddRef(ref added);
            return (int)_handle.DangerousGetHandle();
        }
        catch (ObjectDisposedException)
        {
            Broken = true;
            return SocketClosed;
        }
    }

    /// <summary>Lets go of the descriptor <see cref="BeginBatchedSend"/> held, once the batch made its send.</summary>
    public void EndBatchedSend() => _handle.DangerousRelease();

    /// <summary>
    /// Sends what a batched send left over (all of <paramref name="bytes"/> when the socket took none of it) through the
    /// socket's asynchronous send queue, as <see cref="SendAsync"/> does after a short non-blocking send.
    /// </summary>
    /// <returns>True when the stream cannot be written any more.</returns>
    public ValueTask<bool> SendRestAsync(ReadOnlyMemory<byte> bytes) =>
        bytes.IsEmpty ? new ValueTask<bool>(false) : SendForTests is { } send ? send(bytes) : SendQueuedAsync(bytes);

    /// <summary>
    /// Marks the stream broken after a send whose outcome is unknown (it failed unexpectedly, or may still be in flight):
    /// its connection is then aborted rather than its body ended.
    /// </summary>
    public void MarkBroken() => Broken = true;

    /// <summary>When set (by tests), makes every send instead of the socket: a fault injected here reaches the stream as a send's would.</summary>
    internal Func<ReadOnlyMemory<byte>, ValueTask<bool>>? SendForTests { get; set; }

    /// <summary>The C library's send(2).</summary>
    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "send")]
    internal static extern nint Send(int fd, ref byte buffer, nint length, int flags);

    /// <summary>
    /// Sends through the socket's asynchronous send queue, which waits for room in its buffer (a client that reads
    /// slowly, or the response head still on its way). A send not done within the grace is given up, the stream then
    /// broken: the smaller of <c>CountCachula:SlowReaderGrace</c> and Kestrel's rule (its grace period plus the size at
    /// its minimum rate), since at 240 bytes/s Kestrel's would let one big event wait half an hour.
    /// </summary>
    private async ValueTask<bool> SendQueuedAsync(ReadOnlyMemory<byte> bytes)
    {
        var limit = _slowReaderGrace;
        if (_minRate is { } rate)
        {
            var kestrel = rate.GracePeriod + TimeSpan.FromSeconds(bytes.Length / rate.BytesPerSecond);
            limit = kestrel < limit ? kestrel : limit;
        }

        using var stalled = CancellationTokenSource.CreateLinkedTokenSource(_aborted);
        stalled.CancelAfter(limit);
        try
        {
            while (!bytes.IsEmpty)
            {
                var sent = await _socket.SendAsync(bytes, SocketFlags.None, stalled.Token).ConfigureAwait(false);
                if (sent <= 0)
                {
                    Broken = true;
                    return true;
                }

                bytes = bytes[sent..];
            }

            _behindKestrel = true;
            return false;
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            Stalled = stalled.IsCancellationRequested && !_aborted.IsCancellationRequested;
            Broken = true;
            return true;
        }
    }
}
