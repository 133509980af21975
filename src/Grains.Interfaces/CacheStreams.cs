namespace CountCachula.Grains;

/// <summary>The stream ids of <see cref="CacheTopics"/>, for the topic grains and the listeners alike.</summary>
public static class CacheStreams
{
    /// <summary>The inbox stream of <paramref name="listenerId"/> for <paramref name="tenant"/>.</summary>
    public static StreamId Inbox(string tenant, string listenerId) => StreamId.Create(CacheTopics.InboxNamespace, CacheTopics.InboxKey(tenant, listenerId));
}
