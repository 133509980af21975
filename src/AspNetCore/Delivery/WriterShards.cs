namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// The writer shards of one hub, one per core by default (see <see cref="WriterShard"/>): a singleton of the hub's
/// services, so that two hubs in one process, or tests running side by side, never share a shard or its queue.
/// </summary>
internal sealed class WriterShards
{
    private readonly WriterShard[] _shards;

    /// <summary>One shard per core.</summary>
    public WriterShards()
        : this(Environment.ProcessorCount)
    {
    }

    /// <summary><paramref name="count"/> shards (at least one).</summary>
    public WriterShards(int count)
    {
        _shards = [.. Enumerable.Range(0, Math.Max(1, count)).Select(i => new WriterShard(i))];
        NoConnections = ConnectionSnapshot.Empty(this);
    }

    /// <summary>How many shards there are.</summary>
    public int Count => _shards.Length;

    /// <summary>The shard at <paramref name="index"/>, from 0 to <see cref="Count"/> - 1.</summary>
    public WriterShard this[int index] => _shards[index];

    /// <summary>A tenant's connections when it has none, shared.</summary>
    internal ConnectionSnapshot NoConnections { get; }

    /// <summary>The shard that writes the connection with id <paramref name="connectionId"/>.</summary>
    public WriterShard For(string connectionId) =>
        _shards[(int)((uint)StringComparer.Ordinal.GetHashCode(connectionId) % (uint)_shards.Length)];
}
