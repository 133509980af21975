using Microsoft.Extensions.Logging;

namespace CountCachula.Grains;

// The log lines of the hub grain.
internal sealed partial class CacheHubGrain
{
    [LoggerMessage(EventId = 3020, Level = LogLevel.Debug, Message = "Tenant {Tenant} publishes event {Sequence} ({Kind}, {Count} items)")]
    private static partial void LogPublishing(ILogger logger, string tenant, long sequence, CacheEventKind kind, int count);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Warning, Message = "Tenant {Tenant}: recording an event failed; the hub deactivates and the publisher is told to retry")]
    private static partial void LogRecordFailed(ILogger logger, string tenant, Exception exception);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Warning, Message = "Tenant {Tenant}: the history moved on without this hub activation (another one is active); event {Sequence} was not issued and this activation deactivates")]
    private static partial void LogLostSequence(ILogger logger, string tenant, long sequence);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Warning, Message = "Tenant {Tenant}: routing event {Sequence} failed or took too long; it is recorded, and listeners recover it from the history")]
    private static partial void LogRouteFailed(ILogger logger, string tenant, long sequence, Exception exception);
}
