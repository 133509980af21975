using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// What one stream has waiting to be written: frames in arrival order and, once its client fell behind, one merged
/// invalidation that goes first. Frames are held (<see cref="SseFrame.Retain"/>) from the moment they are added until
/// their write ended or they were dropped. A struct inside its connection, so that it costs no object and no pointer
/// to follow per delivery; not thread-safe: its connection's lock guards it.
/// </summary>
internal struct PendingFrames
{
    private List<SseFrame> _frames;
    private List<SseFrame>? _spare;
    private MergedInvalidation? _merged;
    private long _bytes;

    // Mirrors _frames.Count > 0, so that ending a write reads only the connection (one cache line fewer per delivery).
    private bool _any;

    /// <summary>An empty set, with a spare list for the first write to swap in.</summary>
    public PendingFrames()
    {
        _frames = [];
        _spare = [];
    }

    /// <summary>True when a frame or a merged invalidation waits.</summary>
    public readonly bool Any => _any || _merged is not null;

    /// <summary>How many frames wait (a merged invalidation counts as one).</summary>
    public readonly int Count => _frames.Count + (_merged is null ? 0 : 1);

    /// <summary>Bytes of the frames waiting (the merged invalidation not counted).</summary>
    public readonly long Bytes => _bytes;

    /// <summary>
    /// True when adding a frame of <paramref name="size"/> bytes would pass <paramref name="capacity"/> frames or
    /// <paramref name="maxBytes"/> bytes. A single frame bigger than the byte limit still fits when nothing else waits.
    /// </summary>
    public readonly bool IsFullFor(int size, int capacity, long maxBytes) =>
        _frames.Count >= capacity || (_bytes + size > maxBytes && _frames.Count > 0);

    /// <summary>Adds <paramref name="frame"/>, holding it.</summary>
    public void Add(SseFrame frame)
    {
        frame.Retain();
        _frames.Add(frame);
        _bytes += frame.Bytes.Length;
        _any = true;
    }

    /// <summary>
    /// Folds what waits into the merged invalidation: invalidations merge (their ids are covered by the merged event's
    /// id, the newest of them); hints, custom events and heartbeats are dropped.
    /// </summary>
    /// <returns>How many frames were dropped.</returns>
    public int Coalesce()
    {
        var dropped = 0;
        foreach (var frame in _frames)
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

        ReleaseAll(_frames);
        _bytes = 0;
        _any = false;
        return dropped;
    }

    /// <summary>
    /// Takes everything that waits for one write: the frames (still held; the write releases them and gives the list
    /// back through <see cref="ReturnSpare"/>) and the merged invalidation as a frame in <paramref name="format"/>.
    /// </summary>
    public (List<SseFrame> Batch, SseFrame? Merged) Take(SseFormat format)
    {
        var batch = _frames;
        _frames = _spare ?? [];
        _spare = null;
        _bytes = 0;
        _any = false;
        var merged = _merged?.ToFrame(format);
        _merged = null;
        return (batch, merged);
    }

    /// <summary>Keeps <paramref name="batch"/> (emptied by its write) for the next <see cref="Take"/>.</summary>
    public void ReturnSpare(List<SseFrame> batch) => _spare = batch;

    /// <summary>Drops everything that waits, releasing it.</summary>
    public void Clear()
    {
        ReleaseAll(_frames);
        _bytes = 0;
        _any = false;
        _merged = null;
    }

    /// <summary>Releases every frame of <paramref name="frames"/> and empties it.</summary>
    public static void ReleaseAll(List<SseFrame> frames)
    {
        foreach (var frame in frames)
        {
            frame.Release();
        }

        frames.Clear();
    }
}
