namespace CountCachula.AspNetCore.Publishing;

/// <summary>
/// <see cref="ICacheHub"/> over the grain. Input is checked here too, so a bad tag fails on the caller's thread
/// with the same <see cref="ArgumentException"/> the grain would throw, without a round trip.
/// </summary>
internal sealed class CacheHub(IGrainFactory grains, string tenant) : ICacheHub
{
    /// <inheritdoc />
    public string Tenant { get; } = CacheTenant.Validate(tenant) is { } problem ? throw new ArgumentException(problem, nameof(tenant)) : tenant;

    /// <inheritdoc />
    public Task InvalidateAsync(params IReadOnlyList<string> tags) => PublishAsync(CachePublication.Invalidate(tags));

    /// <inheritdoc />
    public Task PreloadHintAsync(params IReadOnlyList<string> routes) => PreloadHintAsync(routes, scopeTags: null);

    /// <inheritdoc />
    public Task PreloadHintAsync(IReadOnlyList<string> routes, IReadOnlyList<string>? scopeTags) =>
        PublishAsync(CachePublication.PreloadHint(routes, scopeTags));

    /// <inheritdoc />
    public Task BroadcastAsync(string eventName, string data, IReadOnlyList<string>? scopeTags = null) =>
        PublishAsync(CachePublication.Custom(eventName, data, scopeTags));

    /// <inheritdoc />
    public Task<PublishReceipt> PublishAsync(CachePublication publication)
    {
        ArgumentNullException.ThrowIfNull(publication);
        if (publication.Kind == CacheEventKind.Custom)
        {
            if (CustomEvents.Check(publication.EventName, publication.Data) is { } problem)
            {
                throw new ArgumentException(problem.Message, problem.Key);
            }
        }
        else
        {
            CacheInput.ThrowIfInvalid(publication.Items, publication.Kind == CacheEventKind.Invalidate ? "tags" : "routes");
        }

        if (publication.ScopeTags is not null)
        {
            CacheInput.ThrowIfInvalid(publication.ScopeTags, "scopeTags");
        }

        if (publication.IdempotencyKey is not null && IdempotencyKeys.Check(publication.IdempotencyKey) is { } keyProblem)
        {
            throw new ArgumentException(keyProblem, "idempotencyKey");
        }

        return PublishTracing.PublishAsync(grains.GetGrain<ICacheHubGrain>(Tenant), publication);
    }

    /// <inheritdoc />
    public ICacheHub ForTenant(string tenant) => new CacheHub(grains, tenant);
}
