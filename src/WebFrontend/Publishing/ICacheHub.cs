namespace CountCachula.WebFrontend.Publishing;

/// <summary>
/// The hub as ASP.NET Core code sees it: <c>await hub.InvalidateAsync("item:1", "items-list")</c>, the C# form of the
/// specification's <c>hub.invalidate([...])</c>. Calls go to the tenant's <see cref="ICacheHubGrain"/>.
/// </summary>
public interface ICacheHub
{
    /// <summary>The tenant this hub publishes for.</summary>
    string Tenant { get; }

    /// <summary>Tells interested browsers that responses carrying any of <paramref name="tags"/> are stale.</summary>
    /// <exception cref="ArgumentException">A tag breaks the rules of <see cref="CacheInput"/>.</exception>
    Task InvalidateAsync(params IReadOnlyList<string> tags);

    /// <summary>Suggests <paramref name="routes"/> for browsers to fetch ahead of need.</summary>
    /// <exception cref="ArgumentException">A route breaks the rules of <see cref="CacheInput"/>.</exception>
    Task PreloadHintAsync(params IReadOnlyList<string> routes);

    /// <summary>The hub of another tenant.</summary>
    ICacheHub ForTenant(string tenant);
}
