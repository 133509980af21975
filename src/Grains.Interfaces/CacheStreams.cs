namespace CountCachula.Grains;

/// <summary>The stream ids of <see cref="CacheTopics"/>, for producers and subscribers alike.</summary>
public static class CacheStreams
{
    /// <summary>The broadcast stream of <paramref name="tenant"/>: every event.</summary>
    public static StreamId Broadcast(string tenant) => StreamId.Create(CacheTopics.BroadcastNamespace, tenant);

    /// <summary>The notice stream of <paramref name="tenant"/>: events for every connection of the tenant.</summary>
    public static StreamId Notices(string tenant) => StreamId.Create(CacheTopics.NoticeNamespace, tenant);

    /// <summary>The stream of <paramref name="tag"/> in <paramref name="tenant"/>.</summary>
    public static StreamId Tag(string tenant, string tag) => StreamId.Create(CacheTopics.TagNamespace, CacheTopics.TagKey(tenant, tag));
}
