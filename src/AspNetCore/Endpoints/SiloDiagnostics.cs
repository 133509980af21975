using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Sockets;
using CountCachula.AspNetCore.Streaming;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>One silo's counters since it started.</summary>
/// <param name="Silo">The silo's id.</param>
/// <param name="HubSilo">The silo the default tenant's hub grain is active on.</param>
/// <param name="Connections">Open SSE connections.</param>
/// <param name="StreamSubscriptions">Streams the silo reads.</param>
/// <param name="StreamMessages">Stream messages that reached the silo, every copy counted.</param>
/// <param name="Events">Distinct events dispatched.</param>
/// <param name="Deliveries">Events queued on connections.</param>
/// <param name="Gaps">Events given up on because they never arrived.</param>
/// <param name="Coalescings">Times a slow client's pending frames were merged into one invalidation.</param>
/// <param name="SocketSends">How the streams written straight to their sockets are sent: batched through io_uring, or one system call each (and why).</param>
internal sealed record SiloDiagnostics(string Silo, string HubSilo, int Connections, int StreamSubscriptions, long StreamMessages, long Events, long Deliveries, long Gaps, long Coalescings, string SocketSends)
{
    /// <summary>This silo's counters now.</summary>
    public static async Task<SiloDiagnostics> ReadAsync(
        ConnectionRegistry registry, TopicSubscriptions subscriptions, CountCachulaMetrics metrics, IGrainFactory grains, CountCachulaOptions settings) =>
        new(subscriptions.SiloId, await grains.GetGrain<ICacheHubGrain>(settings.DefaultTenant).GetSilo(), registry.Count, subscriptions.Count,
            metrics.StreamMessages, metrics.Events, metrics.Deliveries, metrics.Gaps, metrics.Coalescings, SocketSendsOf(settings));

    private static string SocketSendsOf(CountCachulaOptions settings) =>
        !settings.WriteToSocket ? "through Kestrel (CountCachula:WriteToSocket is false)"
        : !settings.BatchSocketSends ? "one system call per send (CountCachula:BatchSocketSends is false)"
        : SendRing.Status;
}
