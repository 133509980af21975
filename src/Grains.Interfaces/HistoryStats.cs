namespace CountCachula;

/// <summary>How much history a tenant's hub keeps (see <see cref="ICacheHubGrain.GetHistoryStats"/>).</summary>
/// <param name="Events">Events retained.</param>
/// <param name="Bytes">Their estimated size: their strings as UTF-16 plus a fixed overhead per event and per entry.</param>
/// <param name="FloorSequence">Every event after this sequence is retained.</param>
/// <param name="CurrentSegment">The key of the <see cref="IHistorySegmentGrain"/> the next event is appended to (null: none yet).</param>
[GenerateSerializer, Immutable]
public sealed record HistoryStats(
    [property: Id(0)] int Events,
    [property: Id(1)] long Bytes,
    [property: Id(2)] long FloorSequence,
    [property: Id(3)] string? CurrentSegment);
