namespace CountCachula.WebFrontend.Dashboard;

/// <summary>
/// Counts the events this silo dispatched per tenant since the dashboard last took the counts, at the cost of one lock
/// per event (not per delivery). At most <see cref="MaxTenants"/> tenants are counted by name in one interval; the
/// others are summed up under <see cref="DashboardReporter.OtherTenants"/>, so a flood of tenants cannot grow it.
/// </summary>
public sealed class RecentActivity
{
    /// <summary>The most tenants counted by name between two takes.</summary>
    public const int MaxTenants = 1024;

    private readonly Lock _lock = new();
    private Dictionary<string, int> _eventsByTenant = new(StringComparer.Ordinal);

    /// <summary>Records one dispatched event.</summary>
    public void Record(CacheEvent cacheEvent)
    {
        lock (_lock)
        {
            var tenant = _eventsByTenant.Count < MaxTenants || _eventsByTenant.ContainsKey(cacheEvent.Tenant) ? cacheEvent.Tenant : DashboardReporter.OtherTenants;
            _eventsByTenant[tenant] = _eventsByTenant.GetValueOrDefault(tenant) + 1;
        }
    }

    /// <summary>The counts since the last take, per tenant; starts counting afresh.</summary>
    public Dictionary<string, int> TakeEventsByTenant()
    {
        lock (_lock)
        {
            var taken = _eventsByTenant;
            _eventsByTenant = new(StringComparer.Ordinal);
            return taken;
        }
    }
}

/// <summary>One recent event of the tenant as the dashboard lists it, cut down to what a glance needs.</summary>
public sealed record RecentEvent(long Id, string Tenant, string Event, IReadOnlyList<string> Items, DateTime PublishedAtUtc)
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
