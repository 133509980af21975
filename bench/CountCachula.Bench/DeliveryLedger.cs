using System.Diagnostics;

namespace CountCachula.Bench;

/// <summary>What was published when, and what each connection received: counts, duplicates and latency.</summary>
internal sealed class DeliveryLedger(int connections, int events, int groups = 0)
{
    private readonly int[] _groupOf = new int[connections];
    private readonly int[] _groupReceived = new int[connections];
    private readonly bool[] _slow = new bool[connections];
    private readonly long[] _sentAt = new long[events];
    private readonly ulong[][] _seen = [.. Enumerable.Range(0, connections).Select(_ => new ulong[(events + 63) / 64])];
    private long _delivered;
    private long _duplicates;
    private long _strays;
    private long _lastDeliveryAt;

    public int Events => events;

    public LatencyHistogram Latency { get; } = new();

    public long Delivered => Interlocked.Read(ref _delivered);

    public long Duplicates => Interlocked.Read(ref _duplicates);

    /// <summary>Deliveries naming an event this run never published (a wrong or foreign tag).</summary>
    public long Strays => Interlocked.Read(ref _strays);

    public long LastDeliveryAt => Interlocked.Read(ref _lastDeliveryAt);

    /// <summary>Deliveries every connection should get: all events, or those of its group.</summary>
    public long Expected => groups == 0
        ? (long)(connections - _slow.Count(s => s)) * events
        : _groupOf.Where((_, i) => !_slow[i]).Sum(g => (long)((events - g + groups - 1) / groups));

    /// <summary>Leaves <paramref name="connection"/> out of every figure: it is a slow client that stops reading.</summary>
    public void MarkSlow(int connection) => _slow[connection] = true;

    /// <summary>
    /// Puts a grouped connection in <paramref name="group"/>; its first <paramref name="warmupEvents"/> events of the
    /// group are warm-up and not counted.
    /// </summary>
    public void AssignGroup(int connection, int group, int warmupEvents)
    {
        _groupOf[connection] = group;
        _groupReceived[connection] = -warmupEvents;
    }

    /// <summary>
    /// A grouped connection's n-th event of its group is event group + n × groups: the hub keeps each connection's
    /// events in order, so the count identifies the event.
    /// </summary>
    public void ReceivedGroup(int connection, long group, long now)
    {
        if (group != _groupOf[connection])
        {
            Interlocked.Increment(ref _strays);
            return;
        }

        var n = _groupReceived[connection]++;
        if (n < 0)
        {
            return;
        }

        Received(connection, group + (long)n * groups, now);
    }

    public void MarkSent(int eventNumber) => Volatile.Write(ref _sentAt[eventNumber], Stopwatch.GetTimestamp());

    /// <summary>Called by connection <paramref name="connection"/>'s reader for every <c>bench-k</c> it sees.</summary>
    public void Received(int connection, long eventNumber, long now)
    {
        if (eventNumber < 0 || eventNumber >= events || Volatile.Read(ref _sentAt[eventNumber]) == 0)
        {
            Interlocked.Increment(ref _strays);
            return;
        }

        // Event k belongs to group k mod groups: one that reaches another group's connection (by tag, or another
        // tenant's with --tenants) is a stray, not a delivery.
        if (groups > 0 && eventNumber % groups != _groupOf[connection])
        {
            Interlocked.Increment(ref _strays);
            return;
        }

        // Each connection has one reader, so its bitmap needs no locking.
        var seen = _seen[connection];
        var bit = 1UL << (int)(eventNumber & 63);
        ref var word = ref seen[eventNumber >> 6];
        if ((word & bit) != 0)
        {
            Interlocked.Increment(ref _duplicates);
            return;
        }

        word |= bit;
        Interlocked.Increment(ref _delivered);
        Latency.Record(now - _sentAt[eventNumber]);
        Interlocked.Exchange(ref _lastDeliveryAt, now);
    }
}
