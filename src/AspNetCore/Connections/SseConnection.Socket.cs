using System.Buffers;
using CountCachula.AspNetCore.Streaming;

namespace CountCachula.AspNetCore.Connections;

// The socket path of a stream's writes (see SocketChunkWriter): what was pending, sent as one chunk.
internal sealed partial class SseConnection
{
    /// <summary>Writes what was pending (more than one frame, or a merged invalidation first) as one gathered chunk.</summary>
    private void WriteToSocket(SocketChunkWriter writer, List<SseFrame> batch, SseFrame? merged)
    {
        var (bytes, rented) = GatherChunk(batch, merged, Volatile.Read(ref _replayedThrough), DateTime.UtcNow);
        batch.Clear();
        if (bytes.IsEmpty)
        {
            // Everything pending was already covered by the replay (an empty chunk would end the body).
            AfterFlush(ended: false, batch);
            return;
        }

        var send = writer.SendAsync(bytes);
        if (send.IsCompletedSuccessfully)
        {
            Return(rented);
            AfterFlush(send.Result, batch);
        }
        else
        {
            _ = AwaitSendAsync(send, rented, batch);
        }
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
    internal void SentInBatch(SseFrame frame, int sent, List<SseFrame>? batch, DateTime began, DateTime now)
    {
        // The event's first byte left when the call began (its hop timeline); the latency counts to the call's end.
        Written(frame, began, now);
        var chunk = frame.Chunk;
        if (sent == chunk.Length)
        {
            AfterFlush(ended: false, batch);
            return;
        }

        // A failed send (a full buffer, or a real error) is not told apart: the queued send finds out.
        var send = _socketWriter!.SendRestAsync(chunk[Math.Max(0, sent)..]);
        if (send.IsCompletedSuccessfully)
        {
            AfterFlush(send.Result, batch);
        }
        else
        {
            _ = AwaitSendAsync(send, rented: null, batch);
        }
    }

    private static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private async Task AwaitSendAsync(ValueTask<bool> send, byte[]? rented, List<SseFrame>? batch)
    {
        var ended = await send.ConfigureAwait(false);
        Return(rented);
        AfterFlush(ended, batch);
    }
}
