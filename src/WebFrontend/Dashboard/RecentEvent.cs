namespace CountCachula.WebFrontend.Dashboard;

/// <summary>One recent event of the tenant as the dashboard lists it.</summary>
internal sealed record RecentEvent(long Id, string Tenant, string Event, IReadOnlyList<string> Items, DateTime PublishedAtUtc)
{
    /// <summary>The dashboard's view of <paramref name="cacheEvent"/>.</summary>
    public static RecentEvent From(CacheEvent cacheEvent) => new(
        cacheEvent.Sequence,
        cacheEvent.Tenant,
        cacheEvent.Kind switch
        {
            CacheEventKind.Invalidate => "invalidate",
            CacheEventKind.PreloadHint => "preload-hint",
            _ => cacheEvent.EventName ?? "custom",
        },
        cacheEvent.Kind == CacheEventKind.Custom ? [cacheEvent.Data ?? ""] : cacheEvent.Items,
        cacheEvent.PublishedAtUtc);
}
