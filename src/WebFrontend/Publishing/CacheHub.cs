namespace CountCachula.WebFrontend.Publishing;

/// <summary>
/// <see cref="ICacheHub"/> over the grain. Input is checked here too, so a bad tag fails on the caller's thread
/// with the same <see cref="ArgumentException"/> the grain would throw, without a round trip.
/// </summary>
public sealed class CacheHub(IGrainFactory grains, string tenant) : ICacheHub
{
    /// <inheritdoc />
    public string Tenant { get; } = CacheTenant.Validate(tenant) is { } problem ? throw new ArgumentException(problem, nameof(tenant)) : tenant;

    /// <inheritdoc />
    public Task InvalidateAsync(params IReadOnlyList<string> tags)
    {
        CacheInput.ThrowIfInvalid(tags, "tags");
        return grains.GetGrain<ICacheHubGrain>(Tenant).Invalidate(tags);
    }

    /// <inheritdoc />
    public Task PreloadHintAsync(params IReadOnlyList<string> routes)
    {
        CacheInput.ThrowIfInvalid(routes, "routes");
        return grains.GetGrain<ICacheHubGrain>(Tenant).PreloadHint(routes);
    }

    /// <inheritdoc />
    public ICacheHub ForTenant(string tenant) => new CacheHub(grains, tenant);
}
