namespace CountCachula.Grains;

/// <summary>The stream ids of <see cref="CacheTopics"/>, for producers and subscribers alike.</summary>
public static class CacheStreams
{
    /// <summary>The broadcast stream of <paramref name="tenant"/>: every event, in sequence order.</summary>
    public static StreamId Broadcast(string tenant) => StreamId.Create(CacheTopics.BroadcastNamespace, tenant);

    /// <summary>The stream of <paramref name="tag"/> in <paramref name="tenant"/>.</summary>
    public static StreamId Tag(string tenant, string tag) => StreamId.Create(CacheTopics.TagNamespace, CacheTopics.TagKey(tenant, tag));
}
