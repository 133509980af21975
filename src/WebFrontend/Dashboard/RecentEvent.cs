namespace CountCachula.WebFrontend.Dashboard;

/// <summary>One recent event of the tenant as the dashboard lists it, cut down to what a glance needs.</summary>
internal sealed record RecentEvent(long Id, string Tenant, string Event, IReadOnlyList<string> Items, DateTime PublishedAtUtc)
{
    /// <summary>The most items (tags or routes) listed per event; the rest are summed up as "… and N more".</summary>
    public const int MaxItems = 10;

    /// <summary>The most characters shown of one item or of a custom event's data.</summary>
    public const int MaxItemLength = 200;

    /// <summary>The dashboard's view of <paramref name="cacheEvent"/>.</summary>
    public static RecentEvent From(CacheEvent cacheEvent)
    {
        IReadOnlyList<string> items = cacheEvent.Kind == CacheEventKind.Custom ? [cacheEvent.Data ?? ""] : cacheEvent.Items;
        var shown = items.Take(MaxItems).Select(Shorten).ToList();
        if (items.Count > MaxItems)
        {
            shown.Add($"… and {items.Count - MaxItems} more");
        }

        return new(
            cacheEvent.Sequence,
            cacheEvent.Tenant,
            cacheEvent.Kind switch
            {
                CacheEventKind.Invalidate => "invalidate",
                CacheEventKind.PreloadHint => "preload-hint",
                _ => cacheEvent.EventName ?? "custom",
            },
            shown,
            cacheEvent.PublishedAtUtc);
    }

    private static string Shorten(string item) =>
        item.Length <= MaxItemLength ? item : $"{item[..MaxItemLength]}… ({item.Length} characters)";
}
