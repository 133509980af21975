namespace CountCachula.Grains;

/// <summary>Which history segments a tenant keeps, as the hub persists it.</summary>
[GenerateSerializer]
internal sealed class HistoryIndex
{
    /// <summary>Retained segments, oldest first.</summary>
    [Id(0)] public List<HistorySegmentInfo> Segments { get; set; } = [];

    /// <summary>Every event after this sequence is retained (it is the newest one dropped, or the one before the first).</summary>
    [Id(1)] public long FloorSequence { get; set; }

    /// <summary>Every event after this time is retained.</summary>
    [Id(2)] public DateTime FloorAtUtc { get; set; }

    /// <summary>
    /// When this index was first stored. Storage that was lost comes back without it, so a later activation knows it
    /// cannot vouch for what happened before.
    /// </summary>
    [Id(3)] public DateTime CreatedAtUtc { get; set; }
}

/// <summary>One retained history segment.</summary>
[GenerateSerializer]
internal sealed class HistorySegmentInfo
{
    /// <summary>The segment's number in its grain key.</summary>
    [Id(0)] public long Number { get; set; }

    /// <summary>Its first event's sequence.</summary>
    [Id(1)] public long FirstSequence { get; set; }

    /// <summary>Its newest event's sequence (kept in memory, refreshed from the segment on activation).</summary>
    [Id(2)] public long LastSequence { get; set; }

    /// <summary>Its newest event's time.</summary>
    [Id(3)] public DateTime LastAtUtc { get; set; }

    /// <summary>How many events it holds.</summary>
    [Id(4)] public int Count { get; set; }

    /// <summary>The estimated size of its events (see <see cref="HubHistory.SizeOf"/>).</summary>
    [Id(5)] public long Bytes { get; set; }
}

/// <summary>The persisted schedules of one tenant.</summary>
[GenerateSerializer]
internal sealed class HubSchedules
{
    /// <summary>Schedules by name.</summary>
    [Id(0)] public Dictionary<string, ScheduledInvalidation> Schedules { get; set; } = new(StringComparer.Ordinal);
}
