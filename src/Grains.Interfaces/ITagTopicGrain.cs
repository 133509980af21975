namespace CountCachula;

/// <summary>
/// One topic per tenant and exact tag (key: <c>{tenant}/{tag}</c>, see <see cref="CacheTopics"/>). It knows which
/// silos listen to the tag's stream, tells the tenant's hub when the first one arrives and the last one leaves, and
/// puts the events that carry its tag onto the stream. A tag nobody listens to costs no topic traffic at all.
/// </summary>
public interface ITagTopicGrain : IGrainWithStringKey
{
    /// <summary>Hands <paramref name="cacheEvent"/> to the tag's stream.</summary>
    Task Publish(CacheEvent cacheEvent);

    /// <summary>
    /// Records that <paramref name="listenerId"/> (a silo's frontend) is subscribed to the tag's stream. When it
    /// returns, every event the hub accepts afterwards is routed to this topic.
    /// </summary>
    Task AddListener(string listenerId);

    /// <summary>Forgets <paramref name="listenerId"/>; when no listener is left the hub stops routing here.</summary>
    Task RemoveListener(string listenerId);
}
