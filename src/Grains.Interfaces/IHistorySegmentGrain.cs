namespace CountCachula;

/// <summary>
/// One segment of a tenant's event history (key: <c>{tenant}/{segment number}</c>), kept in grain storage. The hub
/// appends every event before it routes it, so whatever a browser or a listener may have missed can be replayed,
/// wherever the hub runs next. Segments keep each storage write small however long the history is.
/// </summary>
public interface IHistorySegmentGrain : IGrainWithStringKey
{
    /// <summary>
    /// Appends <paramref name="cacheEvent"/> and persists the segment, provided the segment's newest event is
    /// <paramref name="expectedPrevious"/> (for an empty segment: that the segment was opened after it). This is the
    /// compare-and-set that lets only one hub activation extend the history: one that read a stale position gets false.
    /// </summary>
    /// <returns>False, with nothing appended, when the segment has moved on past <paramref name="expectedPrevious"/>.</returns>
    Task<bool> Append(CacheEvent cacheEvent, long expectedPrevious);

    /// <summary>The segment's events with a sequence above <paramref name="afterSequence"/>, oldest first.</summary>
    Task<IReadOnlyList<CacheEvent>> Read(long afterSequence);

    /// <summary>Forgets the segment.</summary>
    Task Clear();
}

/// <summary>What a browser missed, as the hub answers a replay request.</summary>
[GenerateSerializer, Immutable]
public sealed record CacheReplay
{
    /// <summary>
    /// False when the requested point is older than the retained history or was never issued: the browser cannot be
    /// told exactly what it missed and must drop its cache.
    /// </summary>
    [Id(0)] public required bool Complete { get; init; }

    /// <summary>The missed events, oldest first (empty when not <see cref="Complete"/>).</summary>
    [Id(1)] public required IReadOnlyList<CacheEvent> Events { get; init; }

    /// <summary>The tenant's newest sequence when the hub answered: live delivery continues after it.</summary>
    [Id(2)] public required long Through { get; init; }
}
