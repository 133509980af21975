namespace CountCachula;

/// <summary>The stream ids of <see cref="CacheTopics"/>, for the topic grains and the listeners alike.</summary>
public static class CacheStreams
{
    /// <summary>The inbox stream of <paramref name="listenerId"/> for <paramref name="tenant"/>.</summary>
    public static StreamId Inbox(string tenant, string listenerId) => StreamId.Create(CacheTopics.InboxNamespace, CacheTopics.InboxKey(tenant, listenerId));

    /// <summary>
    /// A stream of <paramref name="listenerId"/>'s own that carries nothing: its subscription to it is lost with the
    /// inbox subscriptions (the pub-sub storage came back empty), so one check tells of them all. '~' is never in a
    /// tenant id, so this key is no tenant's inbox.
    /// </summary>
    public static StreamId Canary(string listenerId) => StreamId.Create(CacheTopics.InboxNamespace, CacheTopics.InboxKey("~", listenerId));
}
