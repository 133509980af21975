namespace CountCachula.AspNetCore.Dashboard;

/// <summary>
/// Counts the events this silo dispatched per tenant since the dashboard last took the counts, at the cost of one lock
/// per event (not per delivery). At most <see cref="MaxTenants"/> tenants are counted by name in one interval; the
/// others are summed up under <see cref="DashboardReporter.OtherTenants"/>, so a flood of tenants cannot grow it.
/// </summary>
internal sealed class RecentActivity
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
