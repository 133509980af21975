using Microsoft.Extensions.DependencyInjection;

namespace CountCachula.Grains;

/// <summary>The hub's history: events stored before they are sent, trimmed by count and age, replayed on request.</summary>
internal sealed partial class CacheHubGrain
{
    /// <inheritdoc />
    public async Task<IReadOnlyList<CacheEvent>> Recent(int count)
    {
        var recent = new List<CacheEvent>(Math.Clamp(count, 0, 1000));
        for (var i = history.State.Segments.Count - 1; i >= 0 && recent.Count < recent.Capacity; i--)
        {
            var events = await Segment(history.State.Segments[i].Number).Read(0);
            recent.AddRange(events.Reverse().Take(recent.Capacity - recent.Count));
        }

        return recent;
    }

    /// <inheritdoc />
    public Task<string> GetSilo() =>
        Task.FromResult(ServiceProvider.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString());

    /// <inheritdoc />
    public async Task<CacheReplay> Replay(long? afterSequence, DateTime? since)
    {
        var index = history.State;
        var incomplete = new CacheReplay { Complete = false, Events = [], Through = _sequence };
        var covered = afterSequence is { } after
            ? index.Segments.Count > 0 && after >= index.FloorSequence && after <= _sequence
            : since is { } time && index.Segments.Count > 0 && time >= index.FloorAtUtc;
        if (!covered)
        {
            // Nothing was ever recorded, the point is older than what is kept, or it was never issued.
            return afterSequence == _sequence ? incomplete with { Complete = true } : incomplete;
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

        return new CacheReplay { Complete = true, Events = events, Through = _sequence };
    }

    private async Task RecordAsync(CacheEvent cacheEvent)
    {
        var index = history.State;
        var settings = options.Value;
        if (index.Segments.Count == 0)
        {
            index.FloorSequence = cacheEvent.Sequence - 1;
            index.FloorAtUtc = cacheEvent.PublishedAtUtc;
        }

        if (index.Segments.Count == 0 || index.Segments[^1].Count >= settings.HistorySegmentSize)
        {
            var number = index.Segments.Count == 0 ? 0 : index.Segments[^1].Number + 1;
            index.Segments.Add(new HistorySegmentInfo { Number = number, FirstSequence = cacheEvent.Sequence });
            await TrimAsync(index, settings, cacheEvent.PublishedAtUtc);
        }

        var current = index.Segments[^1];
        await Segment(current.Number).Append(cacheEvent);
        current.Count++;
        current.LastSequence = cacheEvent.Sequence;
        current.LastAtUtc = cacheEvent.PublishedAtUtc;
        if (current.Count == 1)
        {
            await history.WriteStateAsync();
        }
    }

    /// <summary>Drops whole segments beyond the configured count or age; the floor records what was dropped.</summary>
    private async Task TrimAsync(HistoryIndex index, CountCachulaSiloOptions settings, DateTime now)
    {
        var maxSegments = Math.Max(2, (settings.HistoryMaxEvents + settings.HistorySegmentSize - 1) / settings.HistorySegmentSize + 1);
        while (index.Segments.Count > 1 && (index.Segments.Count > maxSegments || now - index.Segments[0].LastAtUtc > settings.HistoryMaxAge))
        {
            var dropped = index.Segments[0];
            index.Segments.RemoveAt(0);
            index.FloorSequence = dropped.LastSequence;
            index.FloorAtUtc = dropped.LastAtUtc;
            await Segment(dropped.Number).Clear();
        }

        await history.WriteStateAsync();
    }

    private IHistorySegmentGrain Segment(long number) =>
        GrainFactory.GetGrain<IHistorySegmentGrain>(string.Concat(this.GetPrimaryKeyString(), "/", number.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}
