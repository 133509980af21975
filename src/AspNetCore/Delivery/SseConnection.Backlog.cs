namespace CountCachula.AspNetCore.Delivery;

// How far a stream may fall behind before its backlog is coalesced or the stream let go, and what it shows of it.
internal sealed partial class SseConnection
{
    /// <summary>How many distinct tags a slow client's merged invalidation holds before it becomes <c>*</c>.</summary>
    public const int CoalescedTagLimit = 1024;

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

    /// <summary>How many times this client fell so far behind that its pending frames were coalesced.</summary>
    public int Coalescings => Volatile.Read(ref _coalescings);

    /// <summary>
    /// True when the stream ended with a chunk of its body possibly cut short, or with a write its client never took
    /// (see <see cref="SlowReaderGrace"/>): its connection must be aborted.
    /// </summary>
    internal bool BodyBroken => Volatile.Read(ref _sink)?.Broken == true;

    /// <summary>True when the stream was let go because its client took nothing for <see cref="SlowReaderGrace"/>.</summary>
    internal bool Stalled => Volatile.Read(ref _sink)?.Stalled == true;

    /// <summary>Preload hints, custom events and heartbeats dropped because this client read too slowly.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Frames waiting to be written at this instant (a merged invalidation counts as one).</summary>
    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
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
                return _pending.Bytes;
            }
        }
    }
}
