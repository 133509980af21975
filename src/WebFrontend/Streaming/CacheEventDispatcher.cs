using CountCachula.WebFrontend.Connections;

namespace CountCachula.WebFrontend.Streaming;

/// <summary>
/// The last hop, inside the silo: encodes each event once and queues the same frame on every local connection
/// of the event's tenant. Never waits on a connection, so a slow browser delays nobody.
/// </summary>
public sealed class CacheEventDispatcher(ConnectionRegistry registry, CountCachulaMetrics metrics)
{
    /// <summary>Delivers <paramref name="cacheEvent"/> to this silo's connections; returns how many took it.</summary>
    public int Dispatch(CacheEvent cacheEvent)
    {
        var connections = registry.Snapshot(cacheEvent.Tenant);
        metrics.EventReceived(cacheEvent.Kind);
        if (connections.Length == 0)
        {
            return 0;
        }

        var frame = SseFrame.From(cacheEvent);
        var delivered = 0;
        foreach (var connection in connections)
        {
            if (connection.TryEnqueue(frame))
            {
                delivered++;
            }
        }

        metrics.Delivered(delivered, connections.Length - delivered);
        return delivered;
    }
}
