using System.Buffers;
using CountCachula.AspNetCore.Sockets;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

// The socket path of a stream's writes (see SocketChunkWriter): what was pending, sent as one chunk.
internal sealed partial class SseConnection
{
    /// <summary>
    /// Writes what was pending (more than one frame, or a merged invalidation first): small frames copied into one
    /// gathered chunk (one send), bigger ones sent as they are, each its own chunk, so that nothing big is copied per
    /// stream. The frames stay held until the write ends (AfterFlush releases them).
    /// </summary>
    private void WriteToSocket(SocketChunkWriter writer, List<SseFrame> batch, SseFrame? merged)
    {
        var replayedThrough = Volatile.Read(ref _replayedThrough);
        var now = DateTime.UtcNow;
        var total = merged?.Bytes.Length ?? 0;
        foreach (var frame in batch)
        {
            total += IsLive(frame, replayedThrough) ? frame.Bytes.Length : 0;
        }

        if (total == 0)
        {
            // Everything pending was already covered by the replay (an empty chunk would end the body).
            AfterFlush(ended: false, batch);
            return;
        }

        if (total > GatherLimit)
        {
            _ = SendEachAsync(writer, batch, merged, replayedThrough, now);
            return;
        }

        var (bytes, rented) = GatherChunk(batch, merged, replayedThrough, now);
        ValueTask<bool> send;
        try
        {
            send = writer.SendAsync(bytes);
        }
        catch (Exception exception)
        {
            Return(rented);
            SendFailed(exception, batch, written: null);
            return;
        }

        if (send.IsCompletedSuccessfully)
        {
            Return(rented);
            AfterFlush(send.Result, batch);
        }
        else
        {
            _ = AwaitSendAsync(send, rented, batch, written: null);
        }
    }

    /// <summary>Pending frames up to this many bytes in all are copied into one chunk; more are sent frame by frame.</summary>
    internal const int GatherLimit = 32 * 1024;

    /// <summary>Sends <paramref name="merged"/> and the live frames of <paramref name="batch"/>, each its own chunk, one after the other.</summary>
    private async Task SendEachAsync(SocketChunkWriter writer, List<SseFrame> batch, SseFrame? merged, long replayedThrough, DateTime now)
    {
        bool ended;
        try
        {
            ended = merged is not null && await writer.SendAsync(merged.Chunk).ConfigureAwait(false);
            foreach (var frame in batch)
            {
                if (ended)
                {
                    break;
                }

                if (IsLive(frame, replayedThrough))
                {
                    Written(frame, now);
                    ended = await writer.SendAsync(frame.Chunk).ConfigureAwait(false);
                }
            }
        }
        catch (Exception exception)
        {
            SendFailed(exception, batch, written: null);
            return;
        }

        AfterFlush(ended, batch);
    }

    /// <summary>
    /// One chunk holding <paramref name="merged"/> and then the frames of <paramref name="frames"/> (those a replay
    /// through <paramref name="replayedThrough"/> did not cover, when given), in a buffer from the shared pool; empty
    /// when nothing is left to write.
    /// </summary>
    private (ReadOnlyMemory<byte> Bytes, byte[]? Rented) GatherChunk(IReadOnlyList<SseFrame> frames, SseFrame? merged, long? replayedThrough, DateTime now)
    {
        var total = merged?.Bytes.Length ?? 0;
        foreach (var frame in frames)
        {
            total += replayedThrough is not { } through || IsLive(frame, through) ? frame.Bytes.Length : 0;
        }

        if (total == 0)
        {
            return (ReadOnlyMemory<byte>.Empty, null);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(total + 20);
        var span = buffer.AsSpan();
        total.TryFormat(span, out var used, "x", System.Globalization.CultureInfo.InvariantCulture);
        span[used++] = (byte)'\r';
        span[used++] = (byte)'\n';
        if (merged is not null)
        {
            merged.Bytes.Span.CopyTo(span[used..]);
            used += merged.Bytes.Length;
        }

        foreach (var frame in frames)
        {
            if (replayedThrough is not { } through || IsLive(frame, through))
            {
                frame.Bytes.Span.CopyTo(span[used..]);
                used += frame.Bytes.Length;
                if (replayedThrough is not null)
                {
                    Written(frame, now);
                }
            }
        }

        span[used++] = (byte)'\r';
        span[used++] = (byte)'\n';
        return (buffer.AsMemory(0, used), buffer);
    }

    /// <summary>
    /// Ends a write whose send a <see cref="SocketSendBatch"/> made in the system call it began at <paramref name="began"/>
    /// and returned from at <paramref name="now"/>: <paramref name="sent"/>
    /// is what the socket took (a negative errno or <see cref="SendRing.NotSubmitted"/> when it took nothing), and the
    /// rest of the chunk goes through the socket's send queue, as after a short send of the stream's own.
    /// </summary>
    public void SentInBatch(SseFrame frame, int sent, List<SseFrame>? batch, DateTime began, DateTime now)
    {
        // The event's first byte left when the call began (its hop timeline); the latency counts to the call's end.
        Written(frame, began, now);
        var chunk = frame.Chunk;
        if (sent == chunk.Length)
        {
            AfterFlush(ended: false, batch, frame);
            return;
        }

        // A failed send (a full buffer, or a real error) is not told apart: the queued send finds out.
        ValueTask<bool> send;
        try
        {
            send = _socketWriter!.SendRestAsync(chunk[Math.Max(0, sent)..]);
        }
        catch (Exception exception)
        {
            SendFailed(exception, batch, frame);
            return;
        }

        if (send.IsCompletedSuccessfully)
        {
            AfterFlush(send.Result, batch, frame);
        }
        else
        {
            _ = AwaitSendAsync(send, rented: null, batch, frame);
        }
    }

    private static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Ends a write whose send a <see cref="SocketSendBatch"/> handed the kernel without learning its outcome (see
    /// <see cref="SendRing.Abandoned"/>): what of the chunk left is unknown, so the stream ends broken.
    /// </summary>
    public void SendAbandoned(SseFrame frame, List<SseFrame>? batch) =>
        SendFailed(exception: null, batch, frame);

    private async Task AwaitSendAsync(ValueTask<bool> send, byte[]? rented, List<SseFrame>? batch, SseFrame? written)
    {
        bool ended;
        try
        {
            ended = await send.ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Return(rented);
            SendFailed(exception, batch, written);
            return;
        }

        Return(rented);
        AfterFlush(ended, batch, written);
    }

    /// <summary>
    /// A send failed in a way the socket writer does not answer itself (or its outcome is unknown): the stream ends, its
    /// body taken as cut short so that its connection is aborted. Never left open.
    /// </summary>
    private void SendFailed(Exception? exception, List<SseFrame>? batch, SseFrame? written)
    {
        _socketWriter?.MarkBroken();
        if (Logger is { } logger)
        {
            LogSendFailed(logger, Id, Tenant, exception);
        }

        AfterFlush(ended: true, batch, written);
    }

    [LoggerMessage(EventId = 4240, Level = LogLevel.Warning, Message = "Connection {ConnectionId} of tenant {Tenant} ended: a send to its socket failed unexpectedly or its outcome is unknown")]
    private static partial void LogSendFailed(ILogger logger, string connectionId, string tenant, Exception? exception);
}
