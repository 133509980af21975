namespace CountCachula;

/// <summary>
/// When a live event passed each hop on its way to a frontend (UTC ticks of the clock of the process that stamped
/// it), so the frontend can report where its latency went (<c>countcachula.hop.duration</c>). Only the copy the hub
/// routes carries it: the history's copy does not, so a replayed or re-routed event is never measured as if it had
/// just been published. Stamps of different processes compare only as well as their clocks agree. The history write
/// runs alongside the route, so its hop (<c>record</c>) is not stamped here: the hub reports it itself.
/// </summary>
[GenerateSerializer, Immutable]
internal sealed record EventHops
{
    /// <summary>The hub gave the event its sequence number.</summary>
    [Id(0)] public long SequencedTicks { get; init; }

    /// <summary>A topic or broadcast grain put the event on the listeners' inbox streams.</summary>
    [Id(2)] public long HandedTicks { get; init; }

    /// <summary>The frontend's inbox subscription read the event (set by the frontend, not sent on).</summary>
    [Id(3)] public long ReadTicks { get; init; }

    /// <summary>
    /// The hub started routing the event: when it was sequenced, or, for an event the hub records before it routes
    /// (see <c>CacheHubGrain</c>), when the history accepted it.
    /// </summary>
    [Id(4)] public long RoutedTicks { get; init; }
}
