namespace CountCachula;

/// <summary>
/// One shard of a tenant's tags (key: <c>{tenant}/{shard}</c>, see <see cref="CacheTopics.ShardOf"/>): it owns which
/// listeners want which of its tags, and routes each event for those tags onto the inboxes of those listeners. Its
/// listener sets live in memory only; listeners register again when its silo dies (they follow membership).
/// </summary>
public interface ITagTopicGrain : IGrainWithStringKey
{
    /// <summary>Records that <paramref name="listenerId"/> wants <paramref name="tags"/> (all of this shard). Idempotent.</summary>
    Task Listen(string listenerId, IReadOnlyList<string> tags);

    /// <summary>Records that <paramref name="listenerId"/> no longer wants <paramref name="tags"/>. Idempotent.</summary>
    Task Unlisten(string listenerId, IReadOnlyList<string> tags);

    /// <summary>
    /// Puts <paramref name="cacheEvent"/> on the inbox of every live listener of one of its address tags, and says
    /// which listeners those were (the hub keeps track, so each listener can tell when it missed one).
    /// </summary>
    Task<IReadOnlyList<string>> Route(CacheEvent cacheEvent);

    /// <summary>The listeners of <paramref name="tag"/> (diagnostics and tests).</summary>
    Task<IReadOnlyList<string>> ListenersOf(string tag);
}
