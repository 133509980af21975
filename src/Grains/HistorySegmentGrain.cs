namespace CountCachula.Grains;

/// <summary>One stored segment of a tenant's history; see <see cref="IHistorySegmentGrain"/>.</summary>
/// <remarks>
/// Only the tenant's hub calls it, once per publish: placed on the hub's silo, that call stays in the process and the
/// history write (which the hub's next event waits for) pays only the storage's own latency.
/// </remarks>
[Orleans.Placement.PreferLocalPlacement]
internal sealed class HistorySegmentGrain(
    [PersistentState("events", CacheTopics.Storage)] IPersistentState<HistorySegment> segment) : Grain, IHistorySegmentGrain
{
    /// <inheritdoc />
    public async Task<bool> Append(CacheEvent cacheEvent, long expectedPrevious)
    {
        var state = segment.State;
        var last = state.Events.Count > 0 ? state.Events[^1].Sequence : state.OpenedAfter;
        if ((state.Events.Count > 0 || state.OpenedAfter != 0) && last != expectedPrevious)
        {
            // Another hub activation extended the history past what this one read: it must not issue a competing id.
            return false;
        }

        if (state.Events.Count == 0)
        {
            state.OpenedAfter = expectedPrevious;
        }

        state.Events.Add(cacheEvent);
        try
        {
            await segment.WriteStateAsync();
        }
        catch
        {
            // Not stored, so not appended: memory must not claim what storage does not hold.
            state.Events.RemoveAt(state.Events.Count - 1);
            throw;
        }

        return true;
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

    /// <summary>The sequence the segment was opened after (the previous segment's newest event); 0 until the first append.</summary>
    [Id(1)] public long OpenedAfter { get; set; }
}
