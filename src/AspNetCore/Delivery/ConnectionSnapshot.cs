namespace CountCachula.AspNetCore.Delivery;

/// <summary>One tenant's connections at an instant, immutable: all of them, and the same ones per writer shard.</summary>
internal sealed class ConnectionSnapshot
{
    private ConnectionSnapshot(SseConnection[] all, SseConnection[][] byShard, WriterShards shards)
    {
        All = all;
        ByShard = byShard;
        Shards = shards;
    }

    /// <summary>No connections (see <see cref="WriterShards.NoConnections"/>).</summary>
    internal static ConnectionSnapshot Empty(WriterShards shards) =>
        new([], [.. Enumerable.Range(0, shards.Count).Select(_ => Array.Empty<SseConnection>())], shards);

    /// <summary>The shards that write the connections.</summary>
    public WriterShards Shards { get; }

    /// <summary>Every connection, in the order they were added.</summary>
    public SseConnection[] All { get; }

    /// <summary>The connections written by each shard, indexed by <see cref="WriterShard.Index"/>.</summary>
    public SseConnection[][] ByShard { get; }

    /// <summary>Hands every writer shard that has connections here the frame in <paramref name="frames"/> for all of them.</summary>
    public void DeliverToAll(IWholeFrames frames)
    {
        for (var shard = 0; shard < ByShard.Length; shard++)
        {
            if (ByShard[shard].Length > 0)
            {
                Shards[shard].Deliver(new WholeEventDelivery(ByShard[shard], frames));
            }
        }
    }

    /// <summary>The <paramref name="count"/> connections in <paramref name="slots"/> (holes skipped), in order.</summary>
    public static ConnectionSnapshot Of(List<SseConnection?> slots, int count, WriterShards shards)
    {
        if (count == 0)
        {
            return shards.NoConnections;
        }

        var all = new SseConnection[count];
        var perShard = new int[shards.Count];
        var next = 0;
        foreach (var connection in slots)
        {
            if (connection is not null)
            {
                all[next++] = connection;
                perShard[connection.ShardIndex]++;
            }
        }

        var byShard = new SseConnection[shards.Count][];
        for (var shard = 0; shard < byShard.Length; shard++)
        {
            byShard[shard] = perShard[shard] == 0 ? [] : new SseConnection[perShard[shard]];
            perShard[shard] = 0;
        }

        foreach (var connection in all)
        {
            byShard[connection.ShardIndex][perShard[connection.ShardIndex]++] = connection;
        }

        return new ConnectionSnapshot(all, byShard, shards);
    }
}
