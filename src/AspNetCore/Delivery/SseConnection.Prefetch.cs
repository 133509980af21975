using CountCachula.AspNetCore.Sockets;

namespace CountCachula.AspNetCore.Delivery;

// The prefetch that readies the next connections of a shard's run while one is written.
internal sealed partial class SseConnection
{
    /// <summary>
    /// Starts loading, without waiting, what the next writes touch, in three steps a few connections ahead of each
    /// write: first a connection's own object, then the objects it points to (its lock and sink), then what its sink
    /// points to (a socket writer). Each step reads only what the step before (one write earlier) brought in. Called before each
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
            next._sink?.PrefetchReferents();
        }
    }

    private void PrefetchSelf()
    {
        // The object spans a few cache lines; these fields are the ones a write reads, spread over all of them.
        CacheLine.Prefetch(this);
        CacheLine.Prefetch(ref _sink);
        CacheLine.Prefetch(ref _replayedThrough);
        CacheLine.Prefetch(ref _state);
        CacheLine.Prefetch(ref _closeRequested);
    }

    private void PrefetchReferents()
    {
        CacheLine.Prefetch(_gate);
        if (_sink is { } sink)
        {
            CacheLine.Prefetch(sink);
        }
    }
}
