using System.Buffers;
using System.IO.Pipelines;
using CountCachula.AspNetCore.Sockets;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

// The write path of a stream: its first frames, what its shard hands it, and Kestrel's output when the stream does not
// write to its socket itself (see SseConnection.Socket.cs for that).
internal sealed partial class SseConnection
{
    /// <summary>
    /// Writes <paramref name="first"/> (the connected event and any replay), then everything queued, to
    /// <paramref name="output"/> until the client goes away or a write fails. Queued events up to
    /// <paramref name="replayedThrough"/> were covered by the replay (or, see <see cref="StartAfter"/>, came before the
    /// stream) and are skipped, so the boundary between replay and live has neither a gap nor a duplicate.
    /// </summary>
    /// <remarks>
    /// With a <paramref name="socket"/>, the response head has been sent and the rest of the chunked body is written
    /// straight to it (see <see cref="SocketChunkWriter"/>); <paramref name="output"/> is then not written at all.
    /// </remarks>
    public async Task RunAsync(PipeWriter output, IReadOnlyList<SseFrame> first, long replayedThrough, CancellationToken cancellationToken, SocketChunkWriter? socket = null)
    {
        _output = output;
        _aborted = cancellationToken;
        Volatile.Write(ref _replayedThrough, Math.Max(Volatile.Read(ref _replayedThrough), replayedThrough));
        using var registration = cancellationToken.Register(static state => ((SseConnection)state!).RequestClose(), this);
        if (socket is not null)
        {
            _socketWriter = socket;
            var (bytes, rented) = GatherChunk(first, merged: null, replayedThrough: null, now: default);
            bool ended;
            Exception? failure = null;
            try
            {
                ended = !bytes.IsEmpty && await socket.SendAsync(bytes).ConfigureAwait(false);
            }
            catch (Exception exception) when (IsEndOfStream(exception) || exception is System.Net.Sockets.SocketException)
            {
                // The connection was closed under the first write (the client left, or the server aborted it while
                // stopping): the stream ends like one whose client went away.
                ended = true;
            }
            catch (Exception exception)
            {
                ended = true;
                failure = exception;
            }
            finally
            {
                Return(rented);
            }

            if (failure is not null)
            {
                SendFailed(failure, batch: null, written: null);
            }
            else
            {
                AfterFlush(ended, batch: null);
            }

            await _finished.Task.ConfigureAwait(false);
            return;
        }

        ValueTask<FlushResult> flush;
        try
        {
            foreach (var frame in first)
            {
                output.Write(frame.Bytes.Span);
            }

            flush = output.FlushAsync(cancellationToken);
        }
        catch (Exception exception) when (IsEndOfStream(exception))
        {
            AfterFlush(ended: true, batch: null);
            await _finished.Task.ConfigureAwait(false);
            return;
        }

        Flushed(flush, batch: null, written: null);
        await _finished.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Before the stream is registered: events up to <paramref name="sequence"/> are never written to it (they came
    /// before it opened, or a replay covers them).
    /// </summary>
    /// <param name="sequence">The point: events up to it are skipped.</param>
    /// <param name="resumes">
    /// The stream asked for a replay: every event after its point is for it, including one read from the history
    /// that was published before the stream opened (which a new stream does not get).
    /// </param>
    public void StartAfter(long sequence, bool resumes)
    {
        _resumes = resumes;
        Volatile.Write(ref _replayedThrough, sequence);
    }

    /// <summary>The point set by <see cref="StartAfter"/> (or a replay): events up to it are not written to this stream.</summary>
    public long StartedAfter => Volatile.Read(ref _replayedThrough);

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
            _pendingBytes = 0;
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
            // fits in one (one Kestrel call instead of one per frame), else frame by frame. The frames stay held
            // until the flush ends (AfterFlush releases them).
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

            flush = output.FlushAsync(_aborted);
        }
        catch (Exception)
        {
            // Whatever the reason (usually the client is gone), this stream cannot be written any more.
            AfterFlush(ended: true, batch);
            return;
        }

        Flushed(flush, batch, written: null);
    }

    /// <summary>
    /// Writes the single frame <paramref name="frame"/>, which the caller holds for this write (skipped when the replay
    /// covered it), and then ends the write, releasing it (<paramref name="batch"/>, emptied, becomes the spare list
    /// when given).
    /// </summary>
    private void WriteOne(SseFrame frame, List<SseFrame>? batch)
    {
        if (!IsLive(frame, Volatile.Read(ref _replayedThrough)))
        {
            AfterFlush(ended: false, batch, frame);
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
                    AfterFlush(ended: true, batch, frame);
                    return;
            }

            Written(frame, DateTime.UtcNow);
            ValueTask<bool> send;
            try
            {
                send = socketWriter.SendAsync(frame.Chunk);
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
            AfterFlush(ended: true, batch, frame);
            return;
        }

        Flushed(flush, batch, frame);
    }

    private void Flushed(ValueTask<FlushResult> flush, List<SseFrame>? batch, SseFrame? written)
    {
        if (flush.IsCompletedSuccessfully)
        {
            var result = flush.Result;
            AfterFlush(result.IsCompleted || result.IsCanceled, batch, written);
        }
        else
        {
            _ = AwaitFlushAsync(flush, batch, written);
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

    /// <summary>
    /// False for an event the replay already covered (or that came before the stream, see <see cref="StartAfter"/>),
    /// and, on a stream that resumes nothing, for one read from the history that was published well before the stream
    /// opened: a recovery that finds an event this server never received gives it only to the streams that were there
    /// to miss it, or that asked for everything after a point before it. The margin keeps a difference between the
    /// hub's clock and this one from ever withholding an event published after the open.
    /// </summary>
    private bool IsLive(SseFrame frame, long replayedThrough) =>
        frame.Sequence == 0
        || (frame.Sequence > replayedThrough && (!frame.FromHistory || _resumes || frame.PublishedAtUtc >= _openedAtUtc - OpenedMargin));

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

    /// <summary>
    /// Waits for a flush Kestrel could not finish at once (its output holds more than it lets wait unsent). One the
    /// client has not taken within <see cref="SlowReaderGrace"/> is cancelled and the stream let go (see
    /// <see cref="BodyBroken"/>): Kestrel's minimum data rate alone would wait for a big write as long as its size
    /// takes at 240 bytes/s, half an hour for a few hundred KB.
    /// </summary>
    private async Task AwaitFlushAsync(ValueTask<FlushResult> flush, List<SseFrame>? batch, SseFrame? written)
    {
        bool ended;
        using var grace = new CancellationTokenSource(SlowReaderGrace);
        using var stall = grace.Token.UnsafeRegister(static state => ((SseConnection)state!).StallPipe(), this);
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

        AfterFlush(ended, batch, written);
    }

    /// <summary>The client took nothing within the grace: the flush is cancelled, and the stream ends broken.</summary>
    private void StallPipe()
    {
        Volatile.Write(ref _stalled, true);
        try
        {
            _output?.CancelPendingFlush();
        }
        catch (Exception exception) when (IsEndOfStream(exception))
        {
            // The response is already over.
        }
    }
}
