namespace CountCachula;

/// <summary>
/// The time-based invalidations of one tenant (key: the tenant id): named schedules kept in grain storage and fired
/// by Orleans reminders, so they outlive the grain and the silo. Each tick publishes through the tenant's hub.
/// </summary>
public interface IScheduleGrain : IGrainWithStringKey
{
    /// <summary>
    /// Invalidates <paramref name="tags"/> every <paramref name="period"/>, for data that goes stale with time rather
    /// than with a write. Scheduling a name again replaces it.
    /// </summary>
    Task ScheduleInvalidation(string name, IReadOnlyList<string> tags, TimeSpan period);

    /// <summary>Stops the schedule called <paramref name="name"/>; returns false when there was none.</summary>
    Task<bool> CancelScheduledInvalidation(string name);

    /// <summary>The schedules of this tenant.</summary>
    Task<IReadOnlyList<ScheduledInvalidation>> GetScheduledInvalidations();
}

/// <summary>A recurring invalidation of a tenant.</summary>
[GenerateSerializer, Immutable]
public sealed record ScheduledInvalidation
{
    /// <summary>The schedule's name, unique within the tenant.</summary>
    [Id(0)] public required string Name { get; init; }

    /// <summary>The tags invalidated each time.</summary>
    [Id(1)] public required IReadOnlyList<string> Tags { get; init; }

    /// <summary>How often.</summary>
    [Id(2)] public required TimeSpan Period { get; init; }
}
