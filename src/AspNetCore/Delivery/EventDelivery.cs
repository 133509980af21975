using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// One event for the connections of one <see cref="WriterShard"/>, handed over whole: the shard, not the dispatching
/// thread, offers it to each connection.
/// </summary>
internal abstract class EventDelivery
{
    private readonly FrameOwner? _owner;

    /// <param name="owner">Who made the frames, held until this delivery has run.</param>
    protected EventDelivery(FrameOwner? owner)
    {
        _owner = owner;
        owner?.Hold();
    }

    /// <summary>
    /// Offers the event to each connection, in order: written at once to an idle connection when
    /// <paramref name="writeNow"/>, else queued on it (see <see cref="SseConnection.Deliver"/>); then lets go of the
    /// frames' owner (each connection that took a frame holds it itself).
    /// </summary>
    public void Run(bool writeNow)
    {
        try
        {
            Offer(writeNow);
        }
        finally
        {
            _owner?.Done();
        }
    }

    /// <summary>Offers the event to each connection (see <see cref="Run"/>).</summary>
    protected abstract void Offer(bool writeNow);
}

/// <summary>
/// Makes the frames of one event and holds them (see <see cref="SseFrame.Retain"/>) until each writer shard it was handed
/// to has offered them to its connections and its maker is done too.
/// </summary>
internal abstract class FrameOwner
{
    private int _holders = 1;

    /// <summary>One more delivery that may still ask for the frames.</summary>
    public void Hold() => Interlocked.Increment(ref _holders);

    /// <summary>One holder is done; after the last, the frames made are released.</summary>
    public void Done()
    {
        if (Interlocked.Decrement(ref _holders) == 0)
        {
            ReleaseFrames();
        }
    }

    /// <summary>Releases every frame made (each connection that queued one holds it itself).</summary>
    protected abstract void ReleaseFrames();
}

/// <summary>The frames of one event, one per wire format, shared by every connection that gets it whole.</summary>
internal interface IWholeFrames
{
    /// <summary>The event's frame in <paramref name="format"/>; safe to ask from several threads at once.</summary>
    SseFrame Whole(SseFormat format);
}

/// <summary>One frame for every format (a heartbeat).</summary>
internal sealed class SameFrame(SseFrame frame) : IWholeFrames
{
    /// <inheritdoc />
    public SseFrame Whole(SseFormat format) => frame;
}

/// <summary>An event every connection of a shard gets whole.</summary>
internal sealed class WholeEventDelivery(SseConnection[] connections, IWholeFrames frames) : EventDelivery(frames as FrameOwner)
{
    /// <inheritdoc />
    protected override void Offer(bool writeNow)
    {
        // The next connections' objects start loading while this one's send runs in the kernel: thousands of connections
        // do not fit in the cache, and each would otherwise stall the writer on its way in.
        for (var i = 0; i < connections.Length; i++)
        {
            SseConnection.PrefetchAhead(At(i + 3), At(i + 2), At(i + 1));
            var connection = connections[i];
            connection.Deliver(frames.Whole(connection.Format), writeNow);
        }
    }

    private SseConnection? At(int index) => index < connections.Length ? connections[index] : null;
}

/// <summary>A frame of its own for each connection (the tags that matched its interests), in the order added.</summary>
internal sealed class FramePerConnectionDelivery(List<(SseConnection Connection, SseFrame Frame)> frames, FrameOwner? owner) : EventDelivery(owner)
{
    /// <inheritdoc />
    protected override void Offer(bool writeNow)
    {
        // As for a whole event: the next connections' objects load while this one's send runs.
        for (var i = 0; i < frames.Count; i++)
        {
            SseConnection.PrefetchAhead(At(i + 3), At(i + 2), At(i + 1));
            var (connection, frame) = frames[i];
            connection.Deliver(frame, writeNow);
        }
    }

    private SseConnection? At(int index) => index < frames.Count ? frames[index].Connection : null;
}

/// <summary>Gathers frames for connections per writer shard, then hands each shard its share as one delivery.</summary>
/// <param name="shards">The shards that write the connections.</param>
/// <param name="owner">Who made the frames (held until every shard has offered them), or null for frames nobody pools.</param>
internal sealed class PerShardFrames(WriterShards shards, FrameOwner? owner = null)
{
    private readonly List<(SseConnection Connection, SseFrame Frame)>?[] _byShard = new List<(SseConnection, SseFrame)>?[shards.Count];

    /// <summary>How many frames were added.</summary>
    public int Count { get; private set; }

    /// <summary>Adds <paramref name="frame"/> for <paramref name="connection"/>, after anything added for it before.</summary>
    public void Add(SseConnection connection, SseFrame frame)
    {
        (_byShard[connection.ShardIndex] ??= []).Add((connection, frame));
        Count++;
    }

    /// <summary>Hands every shard its share.</summary>
    public void Hand()
    {
        for (var i = 0; i < _byShard.Length; i++)
        {
            if (_byShard[i] is { } frames)
            {
                shards[i].Deliver(new FramePerConnectionDelivery(frames, owner));
            }
        }
    }
}
