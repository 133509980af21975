using CountCachula.AspNetCore.Diagnostics;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>Counts the events dispatched on this silo, and the connections that took them, in the hub's metrics.</summary>
internal sealed class DispatchMetrics(CountCachulaMetrics metrics) : ICacheEventObserver
{
    /// <inheritdoc />
    public ValueTask BeforeDispatch(CacheEvent cacheEvent)
    {
        metrics.EventReceived(cacheEvent.Kind);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public void AfterDispatch(CacheEvent cacheEvent, int delivered) => metrics.Delivered(delivered);
}
