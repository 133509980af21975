namespace CountCachula;

/// <summary>
/// When a live event passed each hop on its way to a frontend (UTC ticks of the clock of the process that stamped
/// it), so the frontend can report where its latency went (<c>countcachula.hop.duration</c>). Only the copy the hub
/// routes carries it: the history's copy does not, so a replayed or re-routed event is never measured as if it had
/// just been published. Stamps of different processes compare only as well as their clocks agree.
/// </summary>
[GenerateSerializer, Immutable]
internal sealed record EventHops
{
    /// <summary>The hub gave the event its sequence number.</summary>
    [Id(0)] public long SequencedTicks { get; init; }

    /// <summary>The hub's history accepted the event (the publisher's 202 can leave now).</summary>
    [Id(1)] public long RecordedTicks { get; init; }

    /// <summary>A topic or broadcast grain put the event on the listeners' inbox streams.</summary>
    [Id(2)] public long HandedTicks { get; init; }

    /// <summary>The frontend's inbox subscription read the event (set by the frontend, not sent on).</summary>
    [Id(3)] public long ReadTicks { get; init; }
}
