namespace CountCachula.Grains;

/// <summary>One stored segment of a tenant's history; see <see cref="IHistorySegmentGrain"/>.</summary>
internal sealed class HistorySegmentGrain(
    [PersistentState("events", CacheTopics.Storage)] IPersistentState<HistorySegment> segment) : Grain, IHistorySegmentGrain
{
    /// <inheritdoc />
    public async Task Append(CacheEvent cacheEvent)
    {
        segment.State.Events.Add(cacheEvent with { PreviousBySilo = null });
        await segment.WriteStateAsync();
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<CacheEvent>> Read(long afterSequence) =>
        Task.FromResult<IReadOnlyList<CacheEvent>>([.. segment.State.Events.Where(e => e.Sequence > afterSequence)]);

    /// <inheritdoc />
    public async Task Clear()
    {
        await segment.ClearStateAsync();
        DeactivateOnIdle();
    }
}

/// <summary>The stored events of one history segment.</summary>
[GenerateSerializer]
internal sealed class HistorySegment
{
    /// <summary>Oldest first.</summary>
    [Id(0)] public List<CacheEvent> Events { get; set; } = [];
}
