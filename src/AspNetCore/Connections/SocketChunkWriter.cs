using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace CountCachula.AspNetCore.Connections;

/// <summary>
/// Writes the rest of a stream's chunked HTTP/1.1 body straight to its socket, after Kestrel has sent the response head:
/// one non-blocking <c>send</c> per write and nothing in between (no output pipe, no second thread, no copy: a frame
/// already carries its chunk). Kestrel keeps the request and ends the body with its own last chunk once the stream is
/// over. <c>SocketWriteEligibility</c> decides which connections may be written this way.
/// </summary>
/// <remarks>
/// Only one write is ever in flight (the connection's state machine sees to that). The first write goes through the
/// socket's asynchronous send queue, behind anything Kestrel may still be sending of the head; once that is through,
/// every write first tries a non-blocking send and queues only what the socket did not take.
/// </remarks>
internal sealed class SocketChunkWriter
{
    private readonly Socket _socket;
    private readonly MinDataRate? _minRate;
    private readonly CancellationToken _aborted;
    private bool _behindKestrel;

    /// <param name="socket">The connection's socket, after Kestrel sent the response head.</param>
    /// <param name="minRate">
    /// The request's minimum response data rate (Kestrel's <c>MinResponseDataRate</c>): a send the socket queued must
    /// finish within its grace period plus its size at that rate, else the client is taken for gone, as Kestrel would.
    /// </param>
    /// <param name="aborted">Fires when the request is aborted.</param>
    public SocketChunkWriter(Socket socket, MinDataRate? minRate, CancellationToken aborted)
    {
        _socket = socket;
        _minRate = minRate;
        _aborted = aborted;

        // Only this writer's synchronous sends see the flag: they return at once when the socket's buffer is full
        // instead of blocking a writer thread. Kestrel's receives are asynchronous and unaffected.
        socket.Blocking = false;
    }

    /// <summary>
    /// True once a send failed or was given up: a chunk may have been cut short, so the connection must be aborted
    /// rather than its body ended.
    /// </summary>
    public bool Broken { get; private set; }

    /// <summary>Sends <paramref name="bytes"/> (one or more whole chunks).</summary>
    /// <returns>True when the stream cannot be written any more (the client is gone or the request was aborted).</returns>
    public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> bytes)
    {
        if (_behindKestrel)
        {
            try
            {
                var sent = _socket.Send(bytes.Span, SocketFlags.None, out var error);
                if (error == SocketError.Success && sent == bytes.Length)
                {
                    return new ValueTask<bool>(false);
                }

                if (error is not (SocketError.Success or SocketError.WouldBlock))
                {
                    Broken = true;
                    return new ValueTask<bool>(true);
                }

                bytes = bytes[sent..];
            }
            catch (ObjectDisposedException)
            {
                Broken = true;
                return new ValueTask<bool>(true);
            }
        }

        return SendQueuedAsync(bytes);
    }

    private async ValueTask<bool> SendQueuedAsync(ReadOnlyMemory<byte> bytes)
    {
        using var stalled = _minRate is { } rate ? CancellationTokenSource.CreateLinkedTokenSource(_aborted) : null;
        if (_minRate is { } limit)
        {
            stalled!.CancelAfter(limit.GracePeriod + TimeSpan.FromSeconds(bytes.Length / limit.BytesPerSecond));
        }

        try
        {
            while (!bytes.IsEmpty)
            {
                var sent = await _socket.SendAsync(bytes, SocketFlags.None, stalled?.Token ?? _aborted).ConfigureAwait(false);
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
            Broken = true;
            return true;
        }
    }
}
