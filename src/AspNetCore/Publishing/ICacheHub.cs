namespace CountCachula.AspNetCore.Publishing;

/// <summary>
/// The hub as ASP.NET Core code sees it: <c>await hub.InvalidateAsync("item:1", "items-list")</c>, the C# form of
/// <c>hub.invalidate([...])</c> in the <see href="https://github.com/matthewp/countcachula/tree/main/sse">Count Cachula server documentation</see>. Calls go to the
/// tenant's <see cref="ICacheHubGrain"/>.
/// </summary>
public interface ICacheHub
{
    /// <summary>The tenant this hub publishes for.</summary>
    string Tenant { get; }

    /// <summary>Tells interested browsers that responses carrying any of <paramref name="tags"/> are stale.</summary>
    /// <exception cref="ArgumentException">A tag breaks the rules of <see cref="CacheInput"/>.</exception>
    Task InvalidateAsync(params IReadOnlyList<string> tags);

    /// <summary>Suggests <paramref name="routes"/> for every browser to fetch ahead of need.</summary>
    /// <exception cref="ArgumentException">A route breaks the rules of <see cref="CacheInput"/>.</exception>
    Task PreloadHintAsync(params IReadOnlyList<string> routes);

    /// <summary>Suggests <paramref name="routes"/> to the browsers interested in any of <paramref name="scopeTags"/>.</summary>
    Task PreloadHintAsync(IReadOnlyList<string> routes, IReadOnlyList<string>? scopeTags);

    /// <summary>Sends a custom event (<c>event: {name}</c>, <c>data: {data}</c>), optionally scoped by tags.</summary>
    /// <exception cref="ArgumentException">The name is reserved or malformed, or the data contains CR or NUL.</exception>
    Task BroadcastAsync(string eventName, string data, IReadOnlyList<string>? scopeTags = null);

    /// <summary>
    /// Publishes <paramref name="publication"/>. With an idempotency key, a retry within the hub's window publishes
    /// nothing new and reports the original event (<see cref="PublishReceipt.Repeated"/>), so retrying after any
    /// error is safe.
    /// </summary>
    /// <exception cref="ArgumentException">The publication breaks the input rules.</exception>
    /// <exception cref="HubUnavailableException">The hub cannot record events right now; retry.</exception>
    Task<PublishReceipt> PublishAsync(CachePublication publication);

    /// <summary>The hub of another tenant.</summary>
    ICacheHub ForTenant(string tenant);
}
