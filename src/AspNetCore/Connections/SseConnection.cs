using System.IO.Pipelines;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Streaming;

namespace CountCachula.AspNetCore.Connections;

/// <summary>
/// One open SSE stream. Producers (the dispatcher, the heartbeat) add frames to a pending list and, when the connection
/// was idle, hand it to a <see cref="WriterShard"/>; the shard writes everything pending in one go and flushes once. So
/// a connection costs no task or wake-up of its own per event, and whatever piles up while a write is in flight leaves
/// in the next single write.
/// </summary>
/// <remarks>
/// A client that reads too slowly (its flush does not complete while more events arrive) never holds anyone else up and
/// never makes memory grow: once <see cref="Capacity"/> frames are pending they are coalesced — invalidations merged
/// into one set of tags (past <see cref="CoalescedTagLimit"/> tags, a single <c>*</c>), preload hints, custom events and
/// heartbeats dropped — and the merged invalidation is written first when the client reads again.
/// </remarks>
internal sealed partial class SseConnection
{
    /// <summary>How many distinct tags a slow client's merged invalidation holds before it becomes <c>*</c>.</summary>
    public const int CoalescedTagLimit = 1024;

    // Guards the connection's state. A Lock rather than the connection's own monitor: entering a monitor is a call into
    // the runtime, a Lock's uncontended enter and exit are a compare-exchange each, inline.
    private readonly Lock _gate = new();
    private readonly WriterShard _shard;
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CountCachulaMetrics? _metrics;
    private List<SseFrame> _pending = [];

    // Mirrors _pending.Count > 0, so that ending a write reads only this object (one cache line fewer per delivery).
    private bool _anyPending;
    private List<SseFrame>? _spare = [];
    private MergedInvalidation? _merged;
    private State _state = State.Writing;
    private bool _closeRequested;
    private bool _finishing;
    private PipeWriter? _output;
    private SocketChunkWriter? _socketWriter;
    private CancellationToken _aborted;
    private long _replayedThrough;
    private int _coalescings;
    private long _dropped;

    /// <param name="id">The id the browser learns from the <c>connected</c> event.</param>
    /// <param name="tenant">The tenant whose events the connection receives.</param>
    /// <param name="capacity">How many frames may wait before they are coalesced.</param>
    /// <param name="format">The wire format the client asked for.</param>
    /// <param name="interests">What the connection listens for at first (<c>*</c> when the client named nothing).</param>
    /// <param name="metrics">Where publish-to-write latency is recorded, if anywhere.</param>
    public SseConnection(string id, string tenant, int capacity, SseFormat format = SseFormat.Default, IEnumerable<Interest>? interests = null, CountCachulaMetrics? metrics = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _metrics = metrics;
        _shard = WriterShard.For(id);
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

    /// <summary>The tenant whose events the connection receives.</summary>
    public string Tenant { get; }

    /// <summary>
    /// What the credential that opened the stream allowed, captured then: interest changes never widen beyond it, whoever
    /// asks. Null for connections made outside an HTTP request (tests), which nothing can change.
    /// </summary>
    public Hosting.CallerGrant? Grant { get; init; }

    /// <summary>The stream's secret, handed to its page in <c>connected</c>; an interest change must present it.</summary>
    public string StreamKey { get; init; } = "";

    /// <summary>The wire format the client asked for.</summary>
    public SseFormat Format { get; }

    /// <summary>How many frames may wait before they are coalesced.</summary>
    public int Capacity { get; }

    /// <summary>
    /// What the connection listens for. Changed only under <see cref="InterestGate"/> by the interest endpoint,
    /// which keeps the interest index and the silo's stream subscriptions in step.
    /// </summary>
    public HashSet<Interest> Interests { get; }

    /// <summary>Serializes changes to <see cref="Interests"/> with each other and with the connection's removal.</summary>
    internal SemaphoreSlim InterestGate { get; } = new(1, 1);

    /// <summary>True once the connection left the registry; its interests may no longer change.</summary>
    internal bool Closed { get; set; }

    /// <summary>How many times this client fell so far behind that its pending frames were coalesced.</summary>
    public int Coalescings => Volatile.Read(ref _coalescings);

    /// <summary>True when the stream ended with a chunk of its body possibly cut short: its connection must be aborted.</summary>
    internal bool BodyBroken => _socketWriter?.Broken == true;

    /// <summary>Preload hints, custom events and heartbeats dropped because this client read too slowly.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Frames waiting to be written at this instant (a merged invalidation counts as one).</summary>
    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count + (_merged is null ? 0 : 1);
            }
        }
    }

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

    /// <summary>Adds <paramref name="frame"/> to what is pending (coalescing at capacity).</summary>
    /// <returns>True when the connection was idle and now has to be handed to its shard.</returns>
    private bool QueueLocked(SseFrame frame)
    {
        if (_pending.Count >= Capacity)
        {
            CoalesceLocked();
        }

        _pending.Add(frame);
        _anyPending = true;
        if (_state != State.Idle)
        {
            return false;
        }

        _state = State.Queued;
        return true;
    }

    /// <summary>
    /// Queues <paramref name="last"/> as the stream's final frame: once it is written the stream ends (used when the
    /// subscriber's token expires). Anything queued before it is still written first.
    /// </summary>
    public void Finish(SseFrame last)
    {
        lock (_gate)
        {
            if (_state == State.Closed || _finishing)
            {
                return;
            }

            _finishing = true;
            _pending.Add(last);
            _anyPending = true;
            if (_state != State.Idle)
            {
                return;
            }

            _state = State.Queued;
        }

        _shard.Schedule(this);
    }

    private void AfterFlush(bool ended, List<SseFrame>? batch)
    {
        var schedule = false;
        lock (_gate)
        {
            if (batch is not null)
            {
                _spare = batch;
            }

            if (ended || _closeRequested || (_finishing && !_anyPending))
            {
                CloseLocked();
                return;
            }

            if (_anyPending || _merged is not null)
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
                // No write is in flight; one that is will see the request when its flush ends.
                CloseLocked();
            }
        }
    }

    private void CloseLocked()
    {
        _state = State.Closed;
        _pending.Clear();
        _anyPending = false;
        _merged = null;
        _finished.TrySetResult();
    }

    /// <summary>
    /// The client is not keeping up: fold what is pending into the merged invalidation. Invalidations merge (their ids
    /// are covered by the merged event's id, the newest of them); hints, custom events and heartbeats are dropped.
    /// </summary>
    private void CoalesceLocked()
    {
        var dropped = 0;
        foreach (var frame in _pending)
        {
            if (frame.Kind == FrameKind.Invalidate && frame.Tags is { } tags)
            {
                (_merged ??= new MergedInvalidation()).Add(frame, tags);
            }
            else
            {
                dropped++;
            }
        }

        _pending.Clear();
        _anyPending = false;
        _coalescings++;
        _dropped += dropped;
        _metrics?.Coalesced(dropped);
    }

    private static bool IsEndOfStream(Exception exception) =>
        exception is OperationCanceledException or IOException or InvalidOperationException or ObjectDisposedException;
}
