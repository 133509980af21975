using System.Buffers;
using System.IO.Pipelines;
using CountCachula.AspNetCore.Streaming;

namespace CountCachula.AspNetCore.Connections;

// The write path of a stream: its first frames, what its shard hands it, and Kestrel's output when the stream does not
// write to its socket itself (see SseConnection.Socket.cs for that), and the prefetch that readies the next connections.
internal sealed partial class SseConnection
{
    /// <summary>
    /// Writes <paramref name="first"/> (the connected event and any replay), then everything queued, to
    /// <paramref name="output"/> until the client goes away or a write fails. Queued events up to
    /// <paramref name="replayedThrough"/> were covered by the replay and are skipped, so the boundary between replay
    /// and live has neither a gap nor a duplicate.
    /// </summary>
    /// <remarks>
    /// With a <paramref name="socket"/>, the response head has been sent and the rest of the chunked body is written
    /// straight to it (see <see cref="SocketChunkWriter"/>); <paramref name="output"/> is then not written at all.
    /// </remarks>
    public async Task RunAsync(PipeWriter output, IReadOnlyList<SseFrame> first, long replayedThrough, CancellationToken cancellationToken, SocketChunkWriter? socket = null)
    {
        _output = output;
        _aborted = cancellationToken;
        Volatile.Write(ref _replayedThrough, replayedThrough);
        using var registration = cancellationToken.Register(static state => ((SseConnection)state!).RequestClose(), this);
        if (socket is not null)
        {
            _socketWriter = socket;
            var (bytes, rented) = GatherChunk(first, merged: null, replayedThrough: null, now: default);
            var ended = !bytes.IsEmpty && await socket.SendAsync(bytes).ConfigureAwait(false);
            Return(rented);
            AfterFlush(ended, batch: null);
            await _finished.Task.ConfigureAwait(false);
            return;
        }

        try
        {
            foreach (var frame in first)
            {
                output.Write(frame.Bytes.Span);
            }

            var flushed = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            AfterFlush(flushed.IsCompleted || flushed.IsCanceled, batch: null);
        }
        catch (Exception exception) when (IsEndOfStream(exception))
        {
            AfterFlush(ended: true, batch: null);
        }

        await _finished.Task.ConfigureAwait(false);
    }

    /// <summary>Called by the shard: writes what is pending and flushes once.</summary>
    internal void WriteQueued()
    {
        List<SseFrame> batch;
        SseFrame? merged = null;
        lock (_gate)
        {
            if (_state != State.Queued)
            {
                return;
            }

            _state = State.Writing;
            batch = _pending;
            _pending = _spare ?? [];
            _anyPending = false;
            _spare = null;
            merged = _merged?.ToFrame(Format);
            _merged = null;
        }

        if (merged is null && batch.Count == 1)
        {
            // The usual case when a write was in flight as one event arrived: one frame.
            var frame = batch[0];
            batch.Clear();
            WriteOne(frame, batch);
            return;
        }

        if (_socketWriter is { } socketWriter)
        {
            WriteToSocket(socketWriter, batch, merged);
            return;
        }

        ValueTask<FlushResult> flush;
        try
        {
            // Everything that piled up leaves as one chunk and one flush: copied into one buffer of the output when it
            // fits in one (one Kestrel call instead of one per frame), else frame by frame.
            var output = _output!;
            var replayedThrough = Volatile.Read(ref _replayedThrough);
            var now = DateTime.UtcNow;
            var total = merged?.Bytes.Length ?? 0;
            foreach (var frame in batch)
            {
                total += IsLive(frame, replayedThrough) ? frame.Bytes.Length : 0;
            }

            var span = output.GetSpan(total);
            var copy = span.Length >= total;
            var used = 0;
            if (merged is not null)
            {
                Put(output, copy, span, ref used, merged.Bytes.Span);
            }

            foreach (var frame in batch)
            {
                if (IsLive(frame, replayedThrough))
                {
                    Put(output, copy, span, ref used, frame.Bytes.Span);
                    Written(frame, now);
                }
            }

            if (copy)
            {
                output.Advance(used);
            }

            batch.Clear();
            flush = output.FlushAsync(_aborted);
        }
        catch (Exception)
        {
            // Whatever the reason (usually the client is gone), this stream cannot be written any more.
            batch.Clear();
            AfterFlush(ended: true, batch);
            return;
        }

        Flushed(flush, batch);
    }

    /// <summary>
    /// Writes the single frame <paramref name="frame"/> (skipped when the replay covered it) and then ends the write
    /// (<paramref name="batch"/>, emptied, becomes the spare list when given).
    /// </summary>
    private void WriteOne(SseFrame frame, List<SseFrame>? batch)
    {
        if (!IsLive(frame, Volatile.Read(ref _replayedThrough)))
        {
            AfterFlush(ended: false, batch);
            return;
        }

        if (_socketWriter is { } socketWriter)
        {
            // A frame carries its own chunk: the send is the whole write, made with the shard's other sends when it
            // runs on a shard that batches them (SentInBatch then ends the write).
            switch (SocketSendBatch.Current?.TryAdd(this, socketWriter, frame, batch))
            {
                case SocketSendBatch.Outcome.Added:
                    return;
                case SocketSendBatch.Outcome.Closed:
                    AfterFlush(ended: true, batch);
                    return;
            }

            Written(frame, DateTime.UtcNow);
            var send = socketWriter.SendAsync(frame.Chunk);
            if (send.IsCompletedSuccessfully)
            {
                AfterFlush(send.Result, batch);
            }
            else
            {
                _ = AwaitSendAsync(send, rented: null, batch);
            }

            return;
        }

        Written(frame, DateTime.UtcNow);
        ValueTask<FlushResult> flush;
        try
        {
            // Kestrel writes it as one chunk and flushes it in one call (one lock and one chunk header, no staging of
            // the chunk's size).
            flush = _output!.WriteAsync(frame.Bytes, _aborted);
        }
        catch (Exception)
        {
            AfterFlush(ended: true, batch);
            return;
        }

        Flushed(flush, batch);
    }

    private void Flushed(ValueTask<FlushResult> flush, List<SseFrame>? batch)
    {
        if (flush.IsCompletedSuccessfully)
        {
            var result = flush.Result;
            AfterFlush(result.IsCompleted || result.IsCanceled, batch);
        }
        else
        {
            _ = AwaitFlushAsync(flush, batch);
        }
    }

    /// <summary>
    /// Appends <paramref name="bytes"/>: copied into <paramref name="span"/> after its first <paramref name="used"/>
    /// bytes when <paramref name="copy"/>, else written to <paramref name="output"/> directly.
    /// </summary>
    private static void Put(PipeWriter output, bool copy, Span<byte> span, ref int used, ReadOnlySpan<byte> bytes)
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

    /// <summary>False for an event the replay already covered.</summary>
    private static bool IsLive(SseFrame frame, long replayedThrough) => frame.Sequence == 0 || frame.Sequence > replayedThrough;

    private void Written(SseFrame frame, DateTime now) => Written(frame, now, now);

    /// <summary>Records a write of <paramref name="frame"/> that began at <paramref name="began"/> and was done at <paramref name="now"/>.</summary>
    private void Written(SseFrame frame, DateTime began, DateTime now)
    {
        if (frame.Sequence != 0)
        {
            if (_metrics is { } metrics)
            {
                WriteLatencyBatch.Written(metrics, frame.PublishedAtUtc, now);
            }

            frame.Timeline?.Written(began);
        }
    }

    private async Task AwaitFlushAsync(ValueTask<FlushResult> flush, List<SseFrame>? batch)
    {
        bool ended;
        try
        {
            var result = await flush.ConfigureAwait(false);
            ended = result.IsCompleted || result.IsCanceled;
        }
        catch (Exception)
        {
            ended = true;
        }

        AfterFlush(ended, batch);
    }

    /// <summary>
    /// Starts loading, without waiting, what the next writes touch, in three steps a few connections ahead of each
    /// write: first a connection's own object, then the objects it points to (its lock and socket writer), then its
    /// socket's handle. Each step reads only what the step before (one write earlier) brought in. Called before each
    /// write of a run over many connections, with the connections written third, second and first after it (null past
    /// the end).
    /// </summary>
    internal static void PrefetchAhead(SseConnection? third, SseConnection? second, SseConnection? next)
    {
        // Tested for null here rather than by the JIT's own check, which would read the object (and wait for it)
        // before the prefetch meant to load it.
        if (third is not null)
        {
            third.PrefetchSelf();
        }

        if (second is not null)
        {
            second.PrefetchReferents();
        }

        if (next is not null)
        {
            next._socketWriter?.PrefetchHandle();
        }
    }

    private void PrefetchSelf()
    {
        // The object spans a few cache lines; these fields are the ones a write reads, spread over all of them.
        CacheLine.Prefetch(this);
        CacheLine.Prefetch(ref _socketWriter);
        CacheLine.Prefetch(ref _replayedThrough);
        CacheLine.Prefetch(ref _state);
        CacheLine.Prefetch(ref _closeRequested);
    }

    private void PrefetchReferents()
    {
        CacheLine.Prefetch(_gate);
        _socketWriter?.PrefetchSelf();
    }
}
