namespace CountCachula.AspNetCore.Publishing;

/// <summary>
/// <see cref="ICacheHub"/> over the grain. Input is checked here too, so a bad tag fails on the caller's thread
/// with the same <see cref="ArgumentException"/> the grain would throw, without a round trip.
/// </summary>
/// <param name="grains">Where the hub grains are.</param>
/// <param name="tenant">The tenant published to.</param>
/// <param name="maxCustomEventBytes">The most bytes of UTF-8 a custom event's data may have (<c>CountCachula:MaxCustomEventBytes</c>).</param>
internal sealed class CacheHub(IGrainFactory grains, string tenant, int maxCustomEventBytes = CustomEvents.DefaultMaxDataBytes) : ICacheHub
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
            if (CustomEvents.Check(publication.EventName, publication.Data, int.MaxValue) is { } problem)
            {
                throw new ArgumentException(problem.Message, problem.Key);
            }

            if (CustomEvents.TooLarge(publication.Data!, maxCustomEventBytes) is { } bytes)
            {
                throw new ArgumentException(
                    $"The custom event's data is {bytes} bytes of UTF-8; this hub accepts at most {maxCustomEventBytes} (CountCachula:MaxCustomEventBytes).",
                    "data");
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
    public ICacheHub ForTenant(string tenant) => new CacheHub(grains, tenant, maxCustomEventBytes);
}
