using System.Buffers;
using CountCachula.AspNetCore.Sockets;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// Writes a stream straight to its socket once Kestrel sent the response head (see <see cref="SocketChunkWriter"/>):
/// every write is one or more chunks of the chunked body. A single frame carries its own chunk and may leave with the
/// shard's other sends in one system call (<see cref="SocketSendBatch"/>); what piled up is gathered into one chunk
/// when small, else sent frame by frame. A send that fails unexpectedly ends the stream broken, never leaves it open.
/// </summary>
internal sealed partial class SocketSink(SseConnection connection, SocketChunkWriter writer) : StreamSink(connection), IBatchedSendOwner
{
    /// <summary>Pending frames up to this many bytes in all are copied into one chunk; more leave in parts of at most this size.</summary>
    internal const int GatherLimit = 32 * 1024;

    /// <inheritdoc />
    public override bool Broken => writer.Broken;

    /// <inheritdoc />
    public override bool Stalled => writer.Stalled;

    /// <inheritdoc />
    public override void PrefetchReferents() => writer.PrefetchSelf();

    /// <inheritdoc />
    public override void WriteFirst(IReadOnlyList<SseFrame> first) => _ = SendFirstAsync(first);

    /// <inheritdoc />
    public override void WriteBatch(List<SseFrame> batch, SseFrame? merged, long replayedThrough)
    {
        var now = DateTime.UtcNow;
        var total = merged?.Bytes.Length ?? 0;
        foreach (var frame in batch)
        {
            total += Connection.IsLive(frame, replayedThrough) ? frame.Bytes.Length : 0;
        }

        if (total == 0)
        {
            // Everything pending was already covered by the replay (an empty chunk would end the body).
            Connection.EndWrite(ended: false, batch);
            return;
        }

        if (total > GatherLimit)
        {
            _ = SendInPartsAsync(batch, merged, replayedThrough, now);
            return;
        }

        var (bytes, rented) = ChunkPacker.Whole(Connection, batch, merged, replayedThrough, now);
        ValueTask<bool> send;
        try
        {
            send = writer.SendAsync(bytes);
        }
        catch (Exception exception)
        {
            Return(rented);
            Failed(exception, batch, written: null);
            return;
        }

        if (send.IsCompletedSuccessfully)
        {
            Return(rented);
            Connection.EndWrite(send.Result, batch);
        }
        else
        {
            _ = AwaitSendAsync(send, rented, batch, written: null);
        }
    }

    /// <inheritdoc />
    public override void WriteOne(SseFrame frame, List<SseFrame>? batch)
    {
        // The send is the whole write, made with the shard's other sends when it runs on a shard that batches them
        // (SentInBatch then ends the write).
        switch (SocketSendBatch.Current?.TryAdd(this, writer, frame, batch))
        {
            case SocketSendBatch.Outcome.Added:
                return;
            case SocketSendBatch.Outcome.Closed:
                Connection.EndWrite(ended: true, batch, frame);
                return;
        }

        var now = DateTime.UtcNow;
        Connection.Written(frame, now, now);
        ValueTask<bool> send;
        try
        {
            send = writer.SendAsync(frame.Chunk);
        }
        catch (Exception exception)
        {
            Failed(exception, batch, frame);
            return;
        }

        if (send.IsCompletedSuccessfully)
        {
            Connection.EndWrite(send.Result, batch, frame);
        }
        else
        {
            _ = AwaitSendAsync(send, rented: null, batch, frame);
        }
    }

    /// <summary>
    /// Ends a write whose send a <see cref="SocketSendBatch"/> made in the system call it began at <paramref name="began"/>
    /// and returned from at <paramref name="now"/>: <paramref name="sent"/> is what the socket took (a negative errno or
    /// <see cref="SendRing.NotSubmitted"/> when it took nothing), and the rest of the chunk goes through the socket's
    /// send queue, as after a short send of the stream's own.
    /// </summary>
    public void SentInBatch(SseFrame frame, int sent, List<SseFrame>? batch, DateTime began, DateTime now)
    {
        // The event's first byte left when the call began (its hop timeline); the latency counts to the call's end.
        Connection.Written(frame, began, now);
        var chunk = frame.Chunk;
        if (sent == chunk.Length)
        {
            Connection.EndWrite(ended: false, batch, frame);
            return;
        }

        // A failed send (a full buffer, or a real error) is not told apart: the queued send finds out.
        ValueTask<bool> send;
        try
        {
            send = writer.SendRestAsync(chunk[Math.Max(0, sent)..]);
        }
        catch (Exception exception)
        {
            Failed(exception, batch, frame);
            return;
        }

        if (send.IsCompletedSuccessfully)
        {
            Connection.EndWrite(send.Result, batch, frame);
        }
        else
        {
            _ = AwaitSendAsync(send, rented: null, batch, frame);
        }
    }

    /// <summary>
    /// Ends a write whose send a <see cref="SocketSendBatch"/> handed the kernel without learning its outcome (see
    /// <see cref="SendRing.Abandoned"/>): what of the chunk left is unknown, so the stream ends broken.
    /// </summary>
    public void SendAbandoned(SseFrame frame, List<SseFrame>? batch) => Failed(exception: null, batch, frame);

    private async Task SendFirstAsync(IReadOnlyList<SseFrame> first)
    {
        var (bytes, rented) = ChunkPacker.Whole(Connection, first, merged: null, replayedThrough: null, now: default);
        bool ended;
        try
        {
            ended = !bytes.IsEmpty && await writer.SendAsync(bytes).ConfigureAwait(false);
        }
        catch (Exception exception) when (SseConnection.IsEndOfStream(exception) || exception is System.Net.Sockets.SocketException)
        {
            // The connection was closed under the first write (the client left, or the server aborted it while
            // stopping): the stream ends like one whose client went away.
            ended = true;
        }
        catch (Exception exception)
        {
            Return(rented);
            Failed(exception, batch: null, written: null);
            return;
        }

        Return(rented);
        Connection.EndWrite(ended, batch: null);
    }

    /// <summary>
    /// Sends <paramref name="merged"/> and then the live frames of <paramref name="batch"/> one part after the other: as
    /// many small frames as fit in <see cref="GatherLimit"/> gathered into one chunk per send, a frame of that size or
    /// more on its own (its stored chunk, not copied). A client that fell behind is thus caught up in a few sends, and
    /// the copy for it never holds more than <see cref="GatherLimit"/> bytes at a time.
    /// </summary>
    private async Task SendInPartsAsync(List<SseFrame> batch, SseFrame? merged, long replayedThrough, DateTime now)
    {
        var ended = false;
        try
        {
            ended = merged is not null && await writer.SendAsync(merged.Chunk).ConfigureAwait(false);
            var next = 0;
            while (!ended && next < batch.Count)
            {
                var frame = batch[next];
                if (!Connection.IsLive(frame, replayedThrough))
                {
                    next++;
                }
                else if (frame.Bytes.Length >= GatherLimit)
                {
                    next++;
                    Connection.Written(frame, now, now);
                    ended = await writer.SendAsync(frame.Chunk).ConfigureAwait(false);
                }
                else
                {
                    var (bytes, rented, end) = ChunkPacker.Part(Connection, batch, next, GatherLimit, replayedThrough, now);
                    next = end;
                    try
                    {
                        ended = await writer.SendAsync(bytes).ConfigureAwait(false);
                    }
                    finally
                    {
                        Return(rented);
                    }
                }
            }
        }
        catch (Exception exception)
        {
            Failed(exception, batch, written: null);
            return;
        }

        Connection.EndWrite(ended, batch);
    }

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
            Failed(exception, batch, written);
            return;
        }

        Return(rented);
        Connection.EndWrite(ended, batch, written);
    }

    /// <summary>
    /// A send failed in a way the socket writer does not answer itself (or its outcome is unknown): the stream ends, its
    /// body taken as cut short so that its connection is aborted.
    /// </summary>
    private void Failed(Exception? exception, List<SseFrame>? batch, SseFrame? written)
    {
        writer.MarkBroken();
        if (Connection.Logger is { } logger)
        {
            LogSendFailed(logger, Connection.Id, Connection.Tenant, exception);
        }

        Connection.EndWrite(ended: true, batch, written);
    }

    private static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    [LoggerMessage(EventId = 4240, Level = LogLevel.Warning, Message = "Connection {ConnectionId} of tenant {Tenant} ended: a send to its socket failed unexpectedly or its outcome is unknown")]
    private static partial void LogSendFailed(ILogger logger, string connectionId, string tenant, Exception? exception);
}
