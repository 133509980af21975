using CountCachula.AspNetCore.Streaming;

namespace CountCachula.AspNetCore.Dashboard;

/// <summary>Counts each event dispatched on this silo in the dashboard's <see cref="RecentActivity"/>.</summary>
internal sealed class DashboardActivityObserver(RecentActivity activity) : ICacheEventObserver
{
    /// <inheritdoc />
    public ValueTask BeforeDispatch(CacheEvent cacheEvent) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public void AfterDispatch(CacheEvent cacheEvent, int delivered) => activity.Record(cacheEvent);
}
