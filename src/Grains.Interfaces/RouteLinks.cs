namespace CountCachula;

/// <summary>
/// What a hub activation knows about the events it routed to each listener: per listener, the sequence of the last
/// event routed to it, and a floor, the newest event whose routing failed (a router that failed cannot say whom it
/// reached, so the hub counts it as routed to everyone). A router stamps each listener's copy of an event with
/// <see cref="PreviousFor"/>, so a listener notices a missing event as soon as the next one arrives: that event names a
/// predecessor the listener never received.
/// </summary>
[GenerateSerializer, Immutable]
internal sealed record RouteLinks
{
    /// <summary>The newest event whose routing failed or timed out (0: none).</summary>
    [Id(0)] public long Floor { get; init; }

    /// <summary>Listener id → the sequence of the last event routed to it by this hub activation.</summary>
    [Id(1)] public required IReadOnlyDictionary<string, long> Last { get; init; }

    /// <summary>What the next event routed to <paramref name="listenerId"/> names as its predecessor.</summary>
    public long PreviousFor(string listenerId) => Math.Max(Floor, Last.GetValueOrDefault(listenerId));
}
