namespace CountCachula;

/// <summary>
/// One topic per tenant and exact tag (key: <c>{tenant}/{tag}</c>, see <see cref="CacheTopics"/>). It puts the events
/// that carry its tag onto the tag's stream, which only silos with a connection interested in that tag subscribe to.
/// </summary>
public interface ITagTopicGrain : IGrainWithStringKey
{
    /// <summary>Hands <paramref name="cacheEvent"/> to the tag's stream.</summary>
    Task Publish(CacheEvent cacheEvent);
}
