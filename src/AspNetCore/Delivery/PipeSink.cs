using System.Buffers;
using System.IO.Pipelines;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// Writes a stream through Kestrel's response body: each write copies what it is given into the output (one buffer
/// when it fits) and flushes once. A flush the client does not take within the stream's slow-reader grace is
/// cancelled, and the stream ends <see cref="Broken"/>.
/// </summary>
internal sealed class PipeSink(SseConnection connection, PipeWriter output, CancellationToken aborted) : StreamSink(connection)
{
    private bool _stalled;

    /// <inheritdoc />
    public override bool Broken => Volatile.Read(ref _stalled);

    /// <inheritdoc />
    public override bool Stalled => Volatile.Read(ref _stalled);

    /// <inheritdoc />
    public override void WriteFirst(IReadOnlyList<SseFrame> first)
    {
        ValueTask<FlushResult> flush;
        try
        {
            foreach (var frame in first)
            {
                output.Write(frame.Bytes.Span);
            }

            flush = output.FlushAsync(aborted);
        }
        catch (Exception exception) when (SseConnection.IsEndOfStream(exception))
        {
            Connection.EndWrite(ended: true, batch: null);
            return;
        }

        Flushed(flush, batch: null, written: null);
    }

    /// <inheritdoc />
    public override void WriteBatch(List<SseFrame> batch, SseFrame? merged, long replayedThrough)
    {
        ValueTask<FlushResult> flush;
        try
        {
            // Everything that piled up leaves as one chunk and one flush: copied into one buffer of the output when it
            // fits in one (one Kestrel call instead of one per frame), else frame by frame. The frames stay held
            // until the flush ends.
            var now = DateTime.UtcNow;
            var total = merged?.Bytes.Length ?? 0;
            foreach (var frame in batch)
            {
                total += Connection.IsLive(frame, replayedThrough) ? frame.Bytes.Length : 0;
            }

            var span = output.GetSpan(total);
            var copy = span.Length >= total;
            var used = 0;
            if (merged is not null)
            {
                Put(copy, span, ref used, merged.Bytes.Span);
            }

            foreach (var frame in batch)
            {
                if (Connection.IsLive(frame, replayedThrough))
                {
                    Put(copy, span, ref used, frame.Bytes.Span);
                    Connection.Written(frame, now, now);
                }
            }

            if (copy)
            {
                output.Advance(used);
            }

            flush = output.FlushAsync(aborted);
        }
        catch (Exception)
        {
            // Whatever the reason (usually the client is gone), this stream cannot be written any more.
            Connection.EndWrite(ended: true, batch);
            return;
        }

        Flushed(flush, batch, written: null);
    }

    /// <inheritdoc />
    public override void WriteOne(SseFrame frame, List<SseFrame>? batch)
    {
        var now = DateTime.UtcNow;
        Connection.Written(frame, now, now);
        ValueTask<FlushResult> flush;
        try
        {
            // Kestrel writes it as one chunk and flushes it in one call (one lock and one chunk header, no staging of
            // the chunk's size).
            flush = output.WriteAsync(frame.Bytes, aborted);
        }
        catch (Exception)
        {
            Connection.EndWrite(ended: true, batch, frame);
            return;
        }

        Flushed(flush, batch, frame);
    }

    private void Flushed(ValueTask<FlushResult> flush, List<SseFrame>? batch, SseFrame? written)
    {
        if (flush.IsCompletedSuccessfully)
        {
            var result = flush.Result;
            Connection.EndWrite(result.IsCompleted || result.IsCanceled, batch, written);
        }
        else
        {
            _ = AwaitFlushAsync(flush, batch, written);
        }
    }

    /// <summary>Appends <paramref name="bytes"/>: copied into <paramref name="span"/> after its first <paramref name="used"/> bytes when <paramref name="copy"/>, else written to the output directly.</summary>
    private void Put(bool copy, Span<byte> span, ref int used, ReadOnlySpan<byte> bytes)
    {
        if (copy)
        {
            bytes.CopyTo(span[used..]);
            used += bytes.Length;
        }
        else
        {
            output.Write(bytes);
        }
    }

    /// <summary>
    /// Waits for a flush Kestrel could not finish at once (its output holds more than it lets wait unsent). One the
    /// client has not taken within the slow-reader grace is cancelled and the stream let go: Kestrel's minimum data
    /// rate alone would wait for a big write as long as its size takes at 240 bytes/s, half an hour for a few hundred KB.
    /// </summary>
    private async Task AwaitFlushAsync(ValueTask<FlushResult> flush, List<SseFrame>? batch, SseFrame? written)
    {
        bool ended;
        using var grace = new CancellationTokenSource(Connection.SlowReaderGrace);
        using var stall = grace.Token.UnsafeRegister(static state => ((PipeSink)state!).Stall(), this);
        try
        {
            var result = await flush.ConfigureAwait(false);
            // Kestrel's response writer answers a cancelled flush as a completed one, not IsCanceled: the stall says it.
            ended = result.IsCompleted || result.IsCanceled || Volatile.Read(ref _stalled);
        }
        catch (Exception)
        {
            ended = true;
        }

        Connection.EndWrite(ended, batch, written);
    }

    /// <summary>The client took nothing within the grace: the flush is cancelled, and the stream ends broken.</summary>
    private void Stall()
    {
        Volatile.Write(ref _stalled, true);
        try
        {
            output.CancelPendingFlush();
        }
        catch (Exception exception) when (SseConnection.IsEndOfStream(exception))
        {
            // The response is already over.
        }
    }
}
