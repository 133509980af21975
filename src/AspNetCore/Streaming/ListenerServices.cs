using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Diagnostics;
using Orleans.Streams;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>What every <see cref="TenantListener"/> of a frontend shares.</summary>
internal sealed record ListenerServices(
    IClusterClient Client,
    ListenerIdentity Identity,
    CacheEventDispatcher Dispatcher,
    ConnectionRegistry Registry,
    CountCachulaMetrics Metrics,
    CountCachulaOptions Options,
    ILogger Logger,
    Func<CacheEvent, StreamSequenceToken?, Task> OnEvent,
    Action Changed);

/// <summary>A tenant would listen to more distinct exact tags on this frontend than <see cref="CountCachulaOptions.MaxListenedTagsPerTenant"/> allows.</summary>
public sealed class ListenBudgetExceededException(string tenant, int budget)
    : Exception($"Tenant '{tenant}' already listens to the most distinct tags this server allows ({budget}, {CountCachulaOptions.SectionName}:{nameof(CountCachulaOptions.MaxListenedTagsPerTenant)}); close streams or use fewer distinct tags.")
{
    /// <summary>The budget that was reached.</summary>
    public int Budget { get; } = budget;
}
