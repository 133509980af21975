using CountCachula.AspNetCore.Sse;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// One timer for the whole silo, not one per connection: every interval it queues the shared heartbeat frame on
/// every open stream, which keeps idle connections alive through proxies and surfaces dead ones (the write fails).
/// </summary>
internal sealed class HeartbeatService(ConnectionRegistry registry, IOptions<CountCachulaOptions> options) : BackgroundService
{
    private static readonly SameFrame s_heartbeat = new(SseFrame.Heartbeat);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                // Every open stream at once, handed to the writer shards like an event's fan-out.
                foreach (var tenant in registry.Tenants)
                {
                    registry.Shards(tenant).DeliverToAll(s_heartbeat);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }
}
