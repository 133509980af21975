using System.IO.Pipelines;
using CountCachula.AspNetCore.Sockets;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

// A stream's writes as its state machine starts them: the first frames, what its shard hands it, and which of them are
// live for it. How the bytes leave is its sink's part.
internal sealed partial class SseConnection
{
    /// <summary>
    /// Writes <paramref name="first"/> (the connected event and any replay), then everything queued, until the client
    /// goes away or a write fails. Queued events up to <paramref name="replayedThrough"/> were covered by the replay (or,
    /// see <see cref="StartAfter"/>, came before the stream) and are skipped, so the boundary between replay and live
    /// has neither a gap nor a duplicate.
    /// </summary>
    /// <remarks>
    /// With a <paramref name="socket"/>, the response head has been sent and the rest of the chunked body is written
    /// straight to it (<see cref="SocketSink"/>); <paramref name="output"/> is then not written at all.
    /// </remarks>
    public async Task RunAsync(PipeWriter output, IReadOnlyList<SseFrame> first, long replayedThrough, CancellationToken cancellationToken, SocketChunkWriter? socket = null)
    {
        StreamSink sink = socket is null ? new PipeSink(this, output, cancellationToken) : new SocketSink(this, socket);
        Volatile.Write(ref _sink, sink);
        Volatile.Write(ref _replayedThrough, Math.Max(Volatile.Read(ref _replayedThrough), replayedThrough));
        using var registration = cancellationToken.Register(static state => ((SseConnection)state!).RequestClose(), this);

        // The stream is created writing, so nothing else writes until this first write ends.
        sink.WriteFirst(first);
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

    /// <summary>Called by the shard: has the sink write everything pending at once.</summary>
    internal void WriteQueued()
    {
        List<SseFrame> batch;
        SseFrame? merged;
        lock (_gate)
        {
            if (_state != State.Queued)
            {
                return;
            }

            _state = State.Writing;
            (batch, merged) = _pending.Take(Format);
        }

        if (merged is null && batch.Count == 1)
        {
            // The usual case when a write was in flight as one event arrived: one frame.
            var frame = batch[0];
            batch.Clear();
            WriteOne(frame, batch);
            return;
        }

        _sink!.WriteBatch(batch, merged, Volatile.Read(ref _replayedThrough));
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
            EndWrite(ended: false, batch, frame);
            return;
        }

        _sink!.WriteOne(frame, batch);
    }

    /// <summary>
    /// False for an event the replay already covered (or that came before the stream, see <see cref="StartAfter"/>),
    /// and, on a stream that resumes nothing, for one read from the history that was published well before the stream
    /// opened: a recovery that finds an event this server never received gives it only to the streams that were there
    /// to miss it, or that asked for everything after a point before it. The margin keeps a difference between the
    /// hub's clock and this one from ever withholding an event published after the open.
    /// </summary>
    internal bool IsLive(SseFrame frame, long replayedThrough) =>
        frame.Sequence == 0
        || (frame.Sequence > replayedThrough && (!frame.FromHistory || _resumes || frame.PublishedAtUtc >= _openedAtUtc - OpenedMargin));

    /// <summary>Records a write of <paramref name="frame"/> that began at <paramref name="began"/> and was done at <paramref name="now"/>.</summary>
    internal void Written(SseFrame frame, DateTime began, DateTime now)
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
}
