using System.Diagnostics.Metrics;

namespace CountCachula.WebFrontend.Streaming;

/// <summary>The frontend's instruments, on the <c>countcachula</c> meter.</summary>
public sealed class CountCachulaMetrics
{
    /// <summary>The meter name, for exporters and listeners.</summary>
    public const string MeterName = "countcachula";

    private readonly Counter<long> _eventsReceived;
    private readonly Counter<long> _deliveries;
    private readonly Counter<long> _overflows;
    private readonly UpDownCounter<long> _subscriptions;
    private readonly UpDownCounter<long> _connections;
    private readonly Counter<long> _gaps;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>.</summary>
    public CountCachulaMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _eventsReceived = meter.CreateCounter<long>("countcachula.events.received", description: "Hub events that reached this silo's frontend.");
        _deliveries = meter.CreateCounter<long>("countcachula.deliveries", description: "Events queued on a connection.");
        _overflows = meter.CreateCounter<long>("countcachula.connections.overflowed", description: "Connections dropped because their client fell too far behind.");
        _subscriptions = meter.CreateUpDownCounter<long>("countcachula.stream.subscriptions", description: "Stream subscriptions this silo holds.");
        _connections = meter.CreateUpDownCounter<long>("countcachula.connections", description: "Open SSE connections on this silo.");
        _gaps = meter.CreateCounter<long>("countcachula.events.gaps", description: "Events given up on after they failed to arrive in order.");
    }

    internal void EventReceived(CacheEventKind kind) =>
        _eventsReceived.Add(1, new KeyValuePair<string, object?>("kind", kind == CacheEventKind.Invalidate ? "invalidate" : "preload-hint"));

    internal void Delivered(int delivered, int overflowed)
    {
        _deliveries.Add(delivered);
        if (overflowed > 0)
        {
            _overflows.Add(overflowed);
        }
    }

    internal void SubscriptionOpened() => _subscriptions.Add(1);

    internal void GapSkipped() => _gaps.Add(1);

    internal void SubscriptionClosed() => _subscriptions.Add(-1);

    internal void ConnectionOpened(string tenant) => _connections.Add(1, new KeyValuePair<string, object?>("tenant", tenant));

    internal void ConnectionClosed(string tenant) => _connections.Add(-1, new KeyValuePair<string, object?>("tenant", tenant));
}
