using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// Where one stream's bytes go: Kestrel's response body (<see cref="PipeSink"/>) or, when the stream may bypass it, its
/// socket (<see cref="SocketSink"/>). The connection decides what to write and when; a sink only writes it, and ends
/// every write it is given by calling <see cref="SseConnection.EndWrite"/> exactly once, however the write went.
/// </summary>
internal abstract class StreamSink(SseConnection connection)
{
    /// <summary>The stream this sink writes.</summary>
    protected SseConnection Connection { get; } = connection;

    /// <summary>True when the body may have been cut short, or a write was never taken: the connection must be aborted.</summary>
    public abstract bool Broken { get; }

    /// <summary>True when the stream was let go because its client took nothing for its slow-reader grace.</summary>
    public abstract bool Stalled { get; }

    /// <summary>Writes the stream's first frames (its connected event and any replay), all of them.</summary>
    public abstract void WriteFirst(IReadOnlyList<SseFrame> first);

    /// <summary>
    /// Writes <paramref name="merged"/> (when any) and then the frames of <paramref name="batch"/> that are live for the
    /// stream (see <see cref="SseConnection.IsLive"/>) given the replay through <paramref name="replayedThrough"/>.
    /// </summary>
    public abstract void WriteBatch(List<SseFrame> batch, SseFrame? merged, long replayedThrough);

    /// <summary>
    /// Writes the single live <paramref name="frame"/>, which the connection holds for this write; <paramref name="batch"/>
    /// (emptied) goes back with the end of the write.
    /// </summary>
    public abstract void WriteOne(SseFrame frame, List<SseFrame>? batch);

    /// <summary>Starts loading what the sink's next write reads, without waiting for it.</summary>
    public virtual void PrefetchReferents()
    {
    }
}
