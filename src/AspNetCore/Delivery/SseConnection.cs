using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Security;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// One open SSE stream, as a state machine: idle, queued on its shard, writing, closed. Producers (the dispatcher, the
/// heartbeat) add frames to what is pending (<see cref="PendingFrames"/>) and, when the connection was idle, hand it to
/// a <see cref="WriterShard"/>; the shard has its sink (<see cref="StreamSink"/>: Kestrel's pipe or the socket) write
/// everything pending in one go, and the sink ends the write (<see cref="EndWrite"/>). So
/// a connection costs no task or wake-up of its own per event, and whatever piles up while a write is in flight leaves
/// in the next single write.
/// </summary>
/// <remarks>
/// <para>A client that reads too slowly (its flush does not complete while more events arrive) never holds anyone else
/// up and never makes memory grow: once <see cref="Capacity"/> frames or <see cref="MaxQueuedBytes"/> bytes are pending
/// they are coalesced — invalidations merged into one set of tags (past <see cref="CoalescedTagLimit"/> tags, a single
/// <c>*</c>), preload hints, custom events and heartbeats dropped — and the merged invalidation is written first when
/// the client reads again.</para>
/// <para>A client that stops reading is let go: a write it has not taken within <see cref="SlowReaderGrace"/> (its
/// socket's buffer full, or Kestrel's output not flushed) ends the stream, and <see cref="BodyBroken"/> tells the
/// endpoint to abort the connection, which frees what the web server and the kernel buffered for it.</para>
/// <para>Pending frames are not copies: every connection that gets an event queues the same frame (see
/// <see cref="SseFrame"/>), held until its write ended or it was dropped.</para>
/// </remarks>
internal sealed partial class SseConnection
{
    /// <summary>How much earlier than a stream's opening an event read from the history may be published and still reach it.</summary>
    public static readonly TimeSpan OpenedMargin = TimeSpan.FromSeconds(1);

    private readonly DateTime _openedAtUtc = DateTime.UtcNow;
    private bool _resumes;

    // Guards the connection's state. A Lock rather than the connection's own monitor: entering a monitor is a call into
    // the runtime, a Lock's uncontended enter and exit are a compare-exchange each, inline.
    private readonly Lock _gate = new();
    private readonly WriterShard _shard;
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CountCachulaMetrics? _metrics;
    private PendingFrames _pending = new();
    private State _state = State.Writing;
    private bool _closeRequested;
    private bool _finishing;
    private StreamSink? _sink;
    private long _replayedThrough;
    private int _coalescings;
    private long _dropped;

    /// <param name="shards">The writer shards of the hub; the connection's id picks the one that writes it.</param>
    /// <param name="id">The id the browser learns from the <c>connected</c> event.</param>
    /// <param name="tenant">The tenant whose events the connection receives.</param>
    /// <param name="capacity">How many frames may wait before they are coalesced.</param>
    /// <param name="format">The wire format the client asked for.</param>
    /// <param name="interests">What the connection listens for at first (<c>*</c> when the client named nothing).</param>
    /// <param name="metrics">Where publish-to-write latency is recorded, if anywhere.</param>
    public SseConnection(WriterShards shards, string id, string tenant, int capacity, SseFormat format = SseFormat.Default, IEnumerable<Interest>? interests = null, CountCachulaMetrics? metrics = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _metrics = metrics;
        _shard = shards.For(id);
        Id = id;
        Tenant = tenant;
        Capacity = capacity;
        Format = format;
        Interests = [.. interests ?? [Interest.All]];
    }

    private enum State
    {
        /// <summary>Nothing pending, no write in flight.</summary>
        Idle,

        /// <summary>Handed to the shard, which will write what is pending.</summary>
        Queued,

        /// <summary>A write or flush is in flight (or the first frames are still being written).</summary>
        Writing,

        /// <summary>Finished: nothing is written any more.</summary>
        Closed,
    }

    /// <summary>The connection id, unique within the cluster.</summary>
    public string Id { get; }

    /// <summary>The position of the writer shard that writes this connection.</summary>
    public int ShardIndex => _shard.Index;

    /// <summary>Where a send that fails unexpectedly is logged (null: nowhere).</summary>
    internal ILogger? Logger { get; init; }

    /// <summary>The wire format the client asked for.</summary>
    public SseFormat Format { get; }

    /// <summary>
    /// Queues <paramref name="frame"/> without waiting; the write happens on the connection's writer shard.
    /// </summary>
    /// <returns>False when the connection has closed.</returns>
    public bool TryEnqueue(SseFrame frame)
    {
        lock (_gate)
        {
            if (_state == State.Closed || _finishing)
            {
                return false;
            }

            if (!QueueLocked(frame))
            {
                return true;
            }
        }

        _shard.Schedule(this);
        return true;
    }

    /// <summary>
    /// Called by the connection's own shard with an event: written at once when <paramref name="writeNow"/> and
    /// nothing is pending or in flight (the usual case between events: one lock, one send, no list), else queued like
    /// <see cref="TryEnqueue"/>. Frames after the stream closed or began to finish are dropped.
    /// </summary>
    internal void Deliver(SseFrame frame, bool writeNow)
    {
        bool queued;
        lock (_gate)
        {
            if (_state == State.Closed || _finishing)
            {
                return;
            }

            queued = !writeNow || _state != State.Idle;
            if (queued && !QueueLocked(frame))
            {
                // Pending behind a write in flight, or already handed to the shard.
                return;
            }

            if (!queued)
            {
                // Idle means nothing is pending and no merged invalidation waits: this frame is all there is to write.
                _state = State.Writing;
                frame.Retain();
            }
        }

        if (queued)
        {
            _shard.Schedule(this);
        }
        else
        {
            WriteOne(frame, batch: null);
        }
    }

    /// <summary>Adds <paramref name="frame"/> to what is pending (coalescing at capacity, in frames or bytes), holding it.</summary>
    /// <returns>True when the connection was idle and now has to be handed to its shard.</returns>
    private bool QueueLocked(SseFrame frame)
    {
        if (_pending.IsFullFor(frame.Bytes.Length, Capacity, MaxQueuedBytes))
        {
            // The client is not keeping up: what waits is folded into one merged invalidation.
            var dropped = _pending.Coalesce();
            _coalescings++;
            _dropped += dropped;
            _metrics?.Coalesced(dropped);
        }

        _pending.Add(frame);
        if (_state != State.Idle)
        {
            return false;
        }

        _state = State.Queued;
        return true;
    }

    /// <summary>
    /// Queues <paramref name="last"/> as the stream's final frame: once it is written the stream ends (used when the
    /// subscriber's token expires). Anything queued before it is still written first, unless
    /// <paramref name="dropPending"/>: then only a write already in flight completes, and the stream ends at once
    /// with <paramref name="last"/>. A server that is stopping does so: the browser comes back elsewhere with the id of
    /// the last event it received, and what was dropped here is replayed to it there.
    /// </summary>
    public void Finish(SseFrame last, bool dropPending = false)
    {
        lock (_gate)
        {
            if (_state == State.Closed || _finishing)
            {
                return;
            }

            if (dropPending)
            {
                _pending.Clear();
            }

            _finishing = true;
            _pending.Add(last);
            if (_state != State.Idle)
            {
                return;
            }

            _state = State.Queued;
        }

        _shard.Schedule(this);
    }

    /// <summary>
    /// Ends a write (called by the sink, once per write): releases what it wrote (the frames of <paramref name="batch"/>,
    /// which becomes the spare list, and <paramref name="written"/>), then closes the stream when it
    /// <paramref name="ended"/> or was asked to, or hands it back to its shard when more is pending.
    /// </summary>
    internal void EndWrite(bool ended, List<SseFrame>? batch, SseFrame? written = null)
    {
        written?.Release();
        if (batch is not null)
        {
            PendingFrames.ReleaseAll(batch);
        }

        var schedule = false;
        lock (_gate)
        {
            if (batch is not null)
            {
                _pending.ReturnSpare(batch);
            }

            if (ended || _closeRequested || (_finishing && !_pending.Any))
            {
                CloseLocked();
                return;
            }

            if (_pending.Any)
            {
                _state = State.Queued;
                schedule = true;
            }
            else
            {
                _state = State.Idle;
            }
        }

        if (schedule)
        {
            _shard.Schedule(this);
        }
    }

    private void RequestClose()
    {
        lock (_gate)
        {
            _closeRequested = true;
            if (_state is State.Idle or State.Queued)
            {
                // No write is in flight; one that is will see the request when its write ends.
                CloseLocked();
            }
        }
    }

    private void CloseLocked()
    {
        _state = State.Closed;
        _pending.Clear();
        _finished.TrySetResult();
    }

    /// <summary>True for what ends a stream's writes as its client going away, not as a fault.</summary>
    internal static bool IsEndOfStream(Exception exception) =>
        exception is OperationCanceledException or IOException or InvalidOperationException or ObjectDisposedException;
}
