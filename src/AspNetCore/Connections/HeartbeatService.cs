using CountCachula.AspNetCore.Hosting;
using CountCachula.AspNetCore.Streaming;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Connections;

/// <summary>
/// One timer for the whole silo, not one per connection: every interval it queues the shared heartbeat frame on
/// every open stream, which keeps idle connections alive through proxies and surfaces dead ones (the write fails).
/// </summary>
internal sealed class HeartbeatService(ConnectionRegistry registry, IOptions<CountCachulaOptions> options) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                // Every open stream at once: handed to the writer shards in chunks, like an event's fan-out.
                using (WriterShard.CollectFanOut())
                {
                    foreach (var tenant in registry.Tenants)
                    {
                        foreach (var connection in registry.Snapshot(tenant))
                        {
                            connection.TryEnqueue(SseFrame.Heartbeat);
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }
}
