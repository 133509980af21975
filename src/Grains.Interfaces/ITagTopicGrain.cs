namespace CountCachula;

/// <summary>
/// One topic per tenant and exact tag (key: <c>{tenant}/{tag}</c>, see <see cref="CacheTopics"/>): the producer of the
/// tag's stream, and where silos announce that they read it. Silos read a tag's stream only while a local connection
/// is interested in exactly that tag, and the hub routes to the topic only while some silo does.
/// </summary>
public interface ITagTopicGrain : IGrainWithStringKey
{
    /// <summary>Hands <paramref name="cacheEvent"/> to the tag's stream.</summary>
    Task Publish(CacheEvent cacheEvent);

    /// <summary>
    /// Records that the silo <paramref name="listenerId"/> is subscribed to the tag's stream. When it returns, every
    /// event the hub accepts afterwards for this tag is routed here and stamped for that silo.
    /// </summary>
    /// <returns>The sequence of the last event the hub addressed to that silo (0 if none).</returns>
    Task<long> AddListener(string listenerId);

    /// <summary>Records that <paramref name="listenerId"/> no longer reads the tag's stream.</summary>
    Task RemoveListener(string listenerId);
}
