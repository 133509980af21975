using System.Globalization;

namespace CountCachula.Grains;

/// <summary>
/// A tenant's event history as its hub keeps it: an index (persisted with the hub) of segments (each its own grain),
/// appended with a compare-and-set, trimmed by count, age and bytes, read for replays. Segment keys carry the index's
/// creation time, so history that came back empty after a storage loss never meets a stale segment of before.
/// </summary>
internal sealed class HubHistory(IPersistentState<HistoryIndex> state, IGrainFactory grains, string tenant, CountCachulaSiloOptions options)
{
    private HistoryIndex Index => state.State;

    /// <summary>The newest recorded sequence (0: none).</summary>
    public long LastSequence { get; private set; }

    /// <summary>Events and estimated bytes retained.</summary>
    public HistoryStats Stats => new(
        Index.Segments.Sum(s => s.Count),
        Index.Segments.Sum(s => s.Bytes),
        Index.FloorSequence,
        Index.Segments.Count == 0 ? null : SegmentKey(Index.Segments[^1].Number));

    /// <summary>
    /// Reads where the history stands, stamping a new index with its creation time, and hands every event still
    /// within the idempotency window to <paramref name="keys"/>.
    /// </summary>
    public async Task LoadAsync(IdempotencyWindow keys, DateTime nowUtc)
    {
        if (Index.CreatedAtUtc == default)
        {
            // Written at once: a second activation that also found no index fails this write (ETag) instead of
            // starting a history of its own.
            Index.CreatedAtUtc = nowUtc;
            await state.WriteStateAsync();
        }

        for (var i = Index.Segments.Count - 1; i >= 0; i--)
        {
            var info = Index.Segments[i];
            var events = await Segment(info.Number).Read(0);
            if (i == Index.Segments.Count - 1 && events.Count > 0)
            {
                // The index is written when a segment starts; the newest segment itself knows how far it got.
                info.Count = events.Count;
                info.LastSequence = events[^1].Sequence;
                info.LastAtUtc = events[^1].PublishedAtUtc;
                info.Bytes = events.Sum(SizeOf);
            }

            // The newest segment may still be empty (opened, then its first append failed): the one before knows.
            LastSequence = Math.Max(LastSequence, Math.Max(info.LastSequence, Index.FloorSequence));

            foreach (var cacheEvent in events.Where(e => e.IdempotencyKey is not null && nowUtc - e.PublishedAtUtc <= options.IdempotencyWindow))
            {
                keys.Add(cacheEvent.IdempotencyKey!, cacheEvent);
            }

            if (events.Count > 0 && nowUtc - events[0].PublishedAtUtc > options.IdempotencyWindow)
            {
                break;
            }
        }
    }

    /// <summary>
    /// Stores <paramref name="cacheEvent"/> after the newest recorded event; false, with nothing stored, when the
    /// history moved on without this activation (another activation of the hub appended meanwhile).
    /// </summary>
    public async Task<bool> RecordAsync(CacheEvent cacheEvent)
    {
        var index = Index;
        var size = SizeOf(cacheEvent);
        if (index.Segments.Count == 0)
        {
            index.FloorSequence = LastSequence == 0 ? cacheEvent.Sequence - 1 : LastSequence;
            index.FloorAtUtc = index.CreatedAtUtc;
        }

        var current = index.Segments.Count == 0 ? null : index.Segments[^1];
        if (current is null || current.Count >= options.HistorySegmentSize || (current.Count > 0 && current.Bytes + size > options.HistoryMaxBytes / 4))
        {
            // Segments are bounded in bytes too, so trimming whole segments can keep the total under the byte cap.
            var number = current is null ? 0 : current.Number + 1;
            index.Segments.Add(current = new HistorySegmentInfo { Number = number, FirstSequence = cacheEvent.Sequence });
            await TrimAsync(cacheEvent.PublishedAtUtc, size);
            await state.WriteStateAsync();
        }

        if (!await Segment(current.Number).Append(cacheEvent, LastSequence))
        {
            return false;
        }

        current.Count++;
        current.Bytes += size;
        current.LastSequence = cacheEvent.Sequence;
        current.LastAtUtc = cacheEvent.PublishedAtUtc;
        LastSequence = cacheEvent.Sequence;
        if (index.Segments.Sum(s => s.Bytes) > options.HistoryMaxBytes)
        {
            await TrimAsync(cacheEvent.PublishedAtUtc, 0);
            await state.WriteStateAsync();
        }

        return true;
    }

    /// <summary>The events after <paramref name="afterSequence"/> or, when null, after <paramref name="since"/>.</summary>
    public async Task<CacheReplay> ReplayAsync(long? afterSequence, DateTime? since)
    {
        var index = Index;
        var incomplete = new CacheReplay { Complete = false, Events = [], Through = LastSequence };
        // 0 is the start point of a stream opened before its server knew any event of the tenant: the whole history
        // covers it as long as nothing was ever trimmed from it (its floor still dates from its creation).
        var covered = afterSequence is { } after
            ? after == LastSequence || (index.Segments.Count > 0 && after >= index.FloorSequence && after <= LastSequence)
                || (after == 0 && index.FloorAtUtc == index.CreatedAtUtc)
            : since is { } time && time >= (index.Segments.Count == 0 ? index.CreatedAtUtc : index.FloorAtUtc);
        if (!covered)
        {
            // The point is older than what is kept, was never issued, or lies before storage this hub can vouch for.
            return incomplete;
        }

        var events = new List<CacheEvent>();
        foreach (var info in index.Segments)
        {
            if (info.LastSequence > (afterSequence ?? 0) && (since is null || info.LastAtUtc > since))
            {
                var read = await Segment(info.Number).Read(afterSequence ?? 0);
                events.AddRange(since is { } t ? read.Where(e => e.PublishedAtUtc > t) : read);
            }
        }

        return new CacheReplay { Complete = true, Events = events, Through = LastSequence };
    }

    /// <summary>The recorded events published after <paramref name="sinceUtc"/>, oldest first (whatever is retained).</summary>
    public async Task<List<CacheEvent>> SinceAsync(DateTime sinceUtc)
    {
        var events = new List<CacheEvent>();
        for (var i = Index.Segments.Count - 1; i >= 0 && Index.Segments[i].LastAtUtc > sinceUtc; i--)
        {
            events.InsertRange(0, (await Segment(Index.Segments[i].Number).Read(0)).Where(e => e.PublishedAtUtc > sinceUtc));
        }

        return events;
    }

    /// <summary>The newest <paramref name="count"/> events, newest first.</summary>
    public async Task<IReadOnlyList<CacheEvent>> RecentAsync(int count)
    {
        var recent = new List<CacheEvent>(Math.Clamp(count, 0, 1000));
        for (var i = Index.Segments.Count - 1; i >= 0 && recent.Count < recent.Capacity; i--)
        {
            var events = await Segment(Index.Segments[i].Number).Read(0);
            recent.AddRange(events.Reverse().Take(recent.Capacity - recent.Count));
        }

        return recent;
    }

    /// <summary>An estimate of what an event costs to keep: its strings as UTF-16, plus a fixed overhead.</summary>
    public static long SizeOf(CacheEvent cacheEvent)
    {
        long size = 128;
        foreach (var item in cacheEvent.Items)
        {
            size += 32 + (2L * item.Length);
        }

        foreach (var tag in cacheEvent.ScopeTags ?? [])
        {
            size += 32 + (2L * tag.Length);
        }

        return size + (2L * ((cacheEvent.Data?.Length ?? 0) + (cacheEvent.EventName?.Length ?? 0) + (cacheEvent.IdempotencyKey?.Length ?? 0) + (cacheEvent.TraceParent?.Length ?? 0)));
    }

    /// <summary>Drops whole segments, oldest first, beyond the count, age or byte cap; the floor records what was dropped.</summary>
    private async Task TrimAsync(DateTime now, long incoming)
    {
        var index = Index;
        var maxSegments = Math.Max(2, ((options.HistoryMaxEvents + options.HistorySegmentSize - 1) / options.HistorySegmentSize) + 1);
        while (index.Segments.Count > 1
            && (index.Segments.Count > maxSegments
                || now - index.Segments[0].LastAtUtc > options.HistoryMaxAge
                || index.Segments.Sum(s => s.Bytes) + incoming > options.HistoryMaxBytes))
        {
            var dropped = index.Segments[0];
            index.Segments.RemoveAt(0);
            index.FloorSequence = dropped.LastSequence;
            index.FloorAtUtc = dropped.LastAtUtc;
            await Segment(dropped.Number).Clear();
        }
    }

    private IHistorySegmentGrain Segment(long number) => grains.GetGrain<IHistorySegmentGrain>(SegmentKey(number));

    private string SegmentKey(long number) => string.Concat(
        tenant, "/", Index.CreatedAtUtc.Ticks.ToString(CultureInfo.InvariantCulture), "/", number.ToString(CultureInfo.InvariantCulture));
}
