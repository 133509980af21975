namespace CountCachula.WebFrontend.Publishing;

/// <summary>
/// <see cref="ICacheHub"/> over the grain. Input is checked here too, so a bad tag fails on the caller's thread
/// with the same <see cref="ArgumentException"/> the grain would throw, without a round trip.
/// </summary>
internal sealed class CacheHub(IGrainFactory grains, string tenant) : ICacheHub
{
    /// <inheritdoc />
    public string Tenant { get; } = CacheTenant.Validate(tenant) is { } problem ? throw new ArgumentException(problem, nameof(tenant)) : tenant;

    /// <inheritdoc />
    public Task InvalidateAsync(params IReadOnlyList<string> tags)
    {
        CacheInput.ThrowIfInvalid(tags, "tags");
        return Grain.Invalidate(tags);
    }

    /// <inheritdoc />
    public Task PreloadHintAsync(params IReadOnlyList<string> routes) => PreloadHintAsync(routes, scopeTags: null);

    /// <inheritdoc />
    public Task PreloadHintAsync(IReadOnlyList<string> routes, IReadOnlyList<string>? scopeTags)
    {
        CacheInput.ThrowIfInvalid(routes, "routes");
        if (scopeTags is not null)
        {
            CacheInput.ThrowIfInvalid(scopeTags, "scopeTags");
        }

        return Grain.PreloadHint(routes, scopeTags);
    }

    /// <inheritdoc />
    public Task BroadcastAsync(string eventName, string data, IReadOnlyList<string>? scopeTags = null)
    {
        if (CustomEvents.Check(eventName, data) is { } problem)
        {
            throw new ArgumentException(problem.Message, problem.Key);
        }

        if (scopeTags is not null)
        {
            CacheInput.ThrowIfInvalid(scopeTags, "scopeTags");
        }

        return Grain.Broadcast(eventName, data, scopeTags);
    }

    /// <inheritdoc />
    public ICacheHub ForTenant(string tenant) => new CacheHub(grains, tenant);

    private ICacheHubGrain Grain => grains.GetGrain<ICacheHubGrain>(Tenant);
}
