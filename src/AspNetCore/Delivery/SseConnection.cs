using System.IO.Pipelines;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Security;
using CountCachula.AspNetCore.Sockets;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// One open SSE stream. Producers (the dispatcher, the heartbeat) add frames to a pending list and, when the connection
/// was idle, hand it to a <see cref="WriterShard"/>; the shard writes everything pending in one go and flushes once. So
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
internal sealed partial class SseConnection : IBatchedSendOwner
{
    /// <summary>How many distinct tags a slow client's merged invalidation holds before it becomes <c>*</c>.</summary>
    public const int CoalescedTagLimit = 1024;

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
    private long _pendingBytes;
    private bool _stalled;

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

    private readonly CallerGrant? _grant;

    /// <summary>The tenant whose events the connection receives.</summary>
    public string Tenant { get; }

    /// <summary>
    /// What the credential that opened the stream allowed, captured then: interest changes never widen beyond it, whoever
    /// asks. Null for connections made outside an HTTP request (tests), which nothing can change.
    /// </summary>
    public CallerGrant? Grant
    {
        get => _grant;
        init
        {
            _grant = value;
            GrantsAll = value is null || value.Patterns.Contains(CountCachula.AspNetCore.Interests.Interest.All);
        }
    }

    /// <summary>
    /// True when the stream's credential was granted every tag of its tenant (<c>*</c>, as every stream is with auth
    /// off): only such streams receive hints and custom events that name no scope (<see cref="CacheEvent.ForFullGrantsOnly"/>).
    /// </summary>
    public bool GrantsAll { get; private init; } = true;

    /// <summary>Where a send that fails unexpectedly is logged (null: nowhere).</summary>
    internal ILogger? Logger { get; init; }

    /// <summary>The stream's secret, handed to its page in <c>connected</c>; an interest change must present it.</summary>
    public string StreamKey { get; init; } = "";

    /// <summary>The wire format the client asked for.</summary>
    public SseFormat Format { get; }

    /// <summary>How many frames may wait before they are coalesced.</summary>
    public int Capacity { get; }

    /// <summary>
    /// How many bytes of frames may wait before they are coalesced (<c>CountCachula:ConnectionQueueBytes</c>). A single
    /// frame bigger than this is still queued when nothing else is.
    /// </summary>
    public long MaxQueuedBytes { get; init; } = DefaultMaxQueuedBytes;

    /// <summary>How long a write may wait for the client to take it before the stream is let go (<c>CountCachula:SlowReaderGrace</c>).</summary>
    public TimeSpan SlowReaderGrace { get; init; } = DefaultSlowReaderGrace;

    /// <summary>The default of <see cref="MaxQueuedBytes"/>: 1 MiB.</summary>
    public const long DefaultMaxQueuedBytes = 1024 * 1024;

    /// <summary>The default of <see cref="SlowReaderGrace"/>: 5 s, Kestrel's grace period for its minimum response data rate.</summary>
    public static readonly TimeSpan DefaultSlowReaderGrace = TimeSpan.FromSeconds(5);

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

    /// <summary>
    /// True when the stream ended with a chunk of its body possibly cut short, or with a write its client never took
    /// (see <see cref="SlowReaderGrace"/>): its connection must be aborted.
    /// </summary>
    internal bool BodyBroken => _socketWriter?.Broken == true || Volatile.Read(ref _stalled);

    /// <summary>True when the stream was let go because its client took nothing for <see cref="SlowReaderGrace"/>.</summary>
    internal bool Stalled => Volatile.Read(ref _stalled) || _socketWriter?.Stalled == true;

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

    /// <summary>Bytes of the frames waiting to be written at this instant (the merged invalidation not counted).</summary>
    public long PendingBytes
    {
        get
        {
            lock (_gate)
            {
                return _pendingBytes;
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
        if (_pending.Count >= Capacity || (_pendingBytes + frame.Bytes.Length > MaxQueuedBytes && _pending.Count > 0))
        {
            CoalesceLocked();
        }

        frame.Retain();
        _pending.Add(frame);
        _pendingBytes += frame.Bytes.Length;
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
                ReleaseAll(_pending);
                _pendingBytes = 0;
                _anyPending = false;
                _merged = null;
            }

            _finishing = true;
            last.Retain();
            _pending.Add(last);
            _pendingBytes += last.Bytes.Length;
            _anyPending = true;
            if (_state != State.Idle)
            {
                return;
            }

            _state = State.Queued;
        }

        _shard.Schedule(this);
    }

    /// <summary>
    /// Ends a write: releases what it wrote (the frames of <paramref name="batch"/>, which becomes the spare list, and
    /// <paramref name="written"/>), then closes the stream when it <paramref name="ended"/> or was asked to, or hands it
    /// back to its shard when more is pending.
    /// </summary>
    private void AfterFlush(bool ended, List<SseFrame>? batch, SseFrame? written = null)
    {
        written?.Release();
        if (batch is not null)
        {
            ReleaseAll(batch);
        }

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
        ReleaseAll(_pending);
        _pendingBytes = 0;
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

        ReleaseAll(_pending);
        _pendingBytes = 0;
        _anyPending = false;
        _coalescings++;
        _dropped += dropped;
        _metrics?.Coalesced(dropped);
    }

    /// <summary>Releases every frame of <paramref name="frames"/> and empties it.</summary>
    private static void ReleaseAll(List<SseFrame> frames)
    {
        foreach (var frame in frames)
        {
            frame.Release();
        }

        frames.Clear();
    }

    private static bool IsEndOfStream(Exception exception) =>
        exception is OperationCanceledException or IOException or InvalidOperationException or ObjectDisposedException;
}
