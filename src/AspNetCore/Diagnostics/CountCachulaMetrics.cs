using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using CountCachula.Runtime.Metrics;

namespace CountCachula.AspNetCore.Diagnostics;

/// <summary>The frontend's instruments, on the <c>countcachula</c> meter.</summary>
public sealed class CountCachulaMetrics
{
    /// <summary>The meter name, for exporters and listeners.</summary>
    public const string MeterName = "countcachula";

    private readonly Counter<long> _eventsReceived;
    private readonly Counter<long> _deliveries;
    private readonly Counter<long> _coalescings;
    private readonly Counter<long> _dropped;
    private readonly UpDownCounter<long> _subscriptions;
    private readonly UpDownCounter<long> _connections;
    private readonly Counter<long> _gaps;
    private readonly Counter<long> _late;
    private readonly Counter<long> _streamMessages;
    private readonly Counter<long> _recoveries;
    private readonly Counter<long> _replays;
    private readonly Histogram<double> _publishToWrite;
    private readonly Histogram<double> _hops;
    private long _streamMessageCount;
    private long _eventCount;
    private long _deliveryCount;
    private long _gapCount;
    private long _lateCount;
    private int _subscriptionCount;
    private long _coalescingCount;
    private readonly TenantLabels _tenants;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>.</summary>
    /// <param name="meterFactory">Where the meter comes from.</param>
    /// <param name="options">Where <see cref="CountCachulaMetricsOptions.MaxTenantLabels"/> comes from; the default limit without it.</param>
    public CountCachulaMetrics(IMeterFactory meterFactory, IOptions<CountCachulaOptions>? options = null)
    {
        _tenants = new TenantLabels(options?.Value.Metrics.MaxTenantLabels ?? TenantLabels.DefaultLimit);
        var meter = meterFactory.Create(MeterName);
        _eventsReceived = meter.CreateCounter<long>("countcachula.events.received", description: "Hub events that reached this silo's frontend.");
        _deliveries = meter.CreateCounter<long>("countcachula.deliveries", description: "Events queued on a connection.");
        _coalescings = meter.CreateCounter<long>("countcachula.connections.coalesced", description: "Times a slow client's pending frames were merged into one invalidation.");
        _dropped = meter.CreateCounter<long>("countcachula.frames.dropped", description: "Preload hints, custom events and heartbeats dropped because their client read too slowly.");
        _subscriptions = meter.CreateUpDownCounter<long>("countcachula.stream.subscriptions", description: "Stream subscriptions this silo holds.");
        _connections = meter.CreateUpDownCounter<long>("countcachula.connections", description: "Open SSE connections on this silo.");
        _streamMessages = meter.CreateCounter<long>("countcachula.stream.messages", description: "Stream messages that reached this silo, duplicates and strays included.");
        _replays = meter.CreateCounter<long>("countcachula.replays", description: "Reconnections that asked to resume, by outcome (replayed, reset).");
        _publishToWrite = meter.CreateHistogram<double>("countcachula.publish_to_write.duration", unit: "ms", description: "From the hub accepting an event to its bytes being written to a connection.");
        _hops = HopDurations.Create(meter);
        _recoveries = meter.CreateCounter<long>("countcachula.events.recoveries", description: "Times this silo read the hub's history to fill a gap in its events.");
        _gaps = meter.CreateCounter<long>("countcachula.events.gaps", description: "Events that arrived naming a predecessor this silo never received (each gap is read from the history before it goes on).");
        _late = meter.CreateCounter<long>("countcachula.events.late", description: "Missed events dispatched after newer ones (sent without an id, so a browser's Last-Event-ID never goes back).");
    }

    /// <summary>The tenants' inbox subscriptions this silo holds now.</summary>
    public int Subscriptions => Volatile.Read(ref _subscriptionCount);

    /// <summary>Stream messages that reached this silo so far (each copy counts).</summary>
    public long StreamMessages => Interlocked.Read(ref _streamMessageCount);

    /// <summary>Distinct events dispatched on this silo so far.</summary>
    public long Events => Interlocked.Read(ref _eventCount);

    /// <summary>Events queued on connections so far.</summary>
    public long Deliveries => Interlocked.Read(ref _deliveryCount);

    /// <summary>Times a slow client's pending frames were coalesced so far.</summary>
    public long Coalescings => Interlocked.Read(ref _coalescingCount);

    /// <summary>Gaps in the events routed here noticed so far (each repaired from the history).</summary>
    public long Gaps => Interlocked.Read(ref _gapCount);

    /// <summary>Missed events dispatched after newer ones so far.</summary>
    public long LateEvents => Interlocked.Read(ref _lateCount);

    /// <summary>
    /// Records a zero on every counter, so each appears on <c>/metrics</c> from start instead of after its first event.
    /// Closed label sets get every value (kind, outcome); open ones (tenant) get <paramref name="defaultTenant"/>. The
    /// histogram has no honest zero and appears with the first write.
    /// </summary>
    public void ReportZeros(string defaultTenant)
    {
        _streamMessages.Add(0);
        foreach (var kind in (string[])["invalidate", "preload-hint", "custom"])
        {
            _eventsReceived.Add(0, new KeyValuePair<string, object?>("kind", kind));
        }

        _deliveries.Add(0);
        _coalescings.Add(0);
        _dropped.Add(0);
        _subscriptions.Add(0);
        _connections.Add(0, new KeyValuePair<string, object?>("tenant", _tenants.For(defaultTenant)));
        _recoveries.Add(0);
        _gaps.Add(0);
        _late.Add(0);
        _replays.Add(0, new KeyValuePair<string, object?>("outcome", "replayed"));
        _replays.Add(0, new KeyValuePair<string, object?>("outcome", "reset"));
    }

    internal void StreamMessageReceived()
    {
        Interlocked.Increment(ref _streamMessageCount);
        _streamMessages.Add(1);
    }

    internal void EventReceived(CacheEventKind kind)
    {
        Interlocked.Increment(ref _eventCount);
        _eventsReceived.Add(1, new KeyValuePair<string, object?>("kind", kind switch
        {
            CacheEventKind.Invalidate => "invalidate",
            CacheEventKind.PreloadHint => "preload-hint",
            _ => "custom",
        }));
    }

    internal void Delivered(int delivered)
    {
        Interlocked.Add(ref _deliveryCount, delivered);
        _deliveries.Add(delivered);
    }

    internal void Coalesced(int dropped)
    {
        Interlocked.Increment(ref _coalescingCount);
        _coalescings.Add(1);
        if (dropped > 0)
        {
            _dropped.Add(dropped);
        }
    }

    internal void SubscriptionOpened()
    {
        Interlocked.Increment(ref _subscriptionCount);
        _subscriptions.Add(1);
    }

    internal void Recovered() => _recoveries.Add(1);

    internal void Replayed(bool complete) => _replays.Add(1, new KeyValuePair<string, object?>("outcome", complete ? "replayed" : "reset"));

    internal void Written(double milliseconds) => _publishToWrite.Record(milliseconds);

    internal void Hop(string hop, double milliseconds) => _hops.RecordHop(hop, milliseconds);

    internal void GapDetected()
    {
        Interlocked.Increment(ref _gapCount);
        _gaps.Add(1);
    }

    internal void LateEvent()
    {
        Interlocked.Increment(ref _lateCount);
        _late.Add(1);
    }

    internal void SubscriptionClosed()
    {
        Interlocked.Decrement(ref _subscriptionCount);
        _subscriptions.Add(-1);
    }

    internal void ConnectionOpened(string tenant) => _connections.Add(1, new KeyValuePair<string, object?>("tenant", _tenants.For(tenant)));

    internal void ConnectionClosed(string tenant) => _connections.Add(-1, new KeyValuePair<string, object?>("tenant", _tenants.For(tenant)));
}
