using Microsoft.Extensions.Logging;

namespace CountCachula.Grains;

/// <summary>A tenant's time-based invalidations; see <see cref="IScheduleGrain"/>.</summary>
internal sealed partial class ScheduleGrain(
    [PersistentState("schedules", CacheTopics.Storage)] IPersistentState<HubSchedules> schedules,
    ILogger<ScheduleGrain> logger) : Grain, IScheduleGrain, IRemindable
{
    private const string ReminderPrefix = "invalidate:";

    /// <inheritdoc />
    public async Task ScheduleInvalidation(string name, IReadOnlyList<string> tags, TimeSpan period)
    {
        if (CacheInput.Check([name], "name") is { } problem)
        {
            throw new ArgumentException(problem.Message, nameof(name));
        }

        CacheInput.ThrowIfInvalid(tags, "tags");
        if (period <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(period), period, "The period must be positive.");
        }

        schedules.State.Schedules[name] = new ScheduledInvalidation { Name = name, Tags = CacheInput.Distinct(tags), Period = period };
        await schedules.WriteStateAsync();
        await this.RegisterOrUpdateReminder(ReminderPrefix + name, period, period);
        LogScheduled(logger, this.GetPrimaryKeyString(), name, period);
    }

    /// <inheritdoc />
    public async Task<bool> CancelScheduledInvalidation(string name)
    {
        var existed = schedules.State.Schedules.Remove(name);
        if (existed)
        {
            await schedules.WriteStateAsync();
        }

        var reminder = await this.GetReminder(ReminderPrefix + name);
        if (reminder is not null)
        {
            await this.UnregisterReminder(reminder);
        }

        return existed;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ScheduledInvalidation>> GetScheduledInvalidations() =>
        Task.FromResult<IReadOnlyList<ScheduledInvalidation>>([.. schedules.State.Schedules.Values.OrderBy(s => s.Name, StringComparer.Ordinal)]);

    /// <inheritdoc />
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (!reminderName.StartsWith(ReminderPrefix, StringComparison.Ordinal))
        {
            return;
        }

        var name = reminderName[ReminderPrefix.Length..];
        if (schedules.State.Schedules.TryGetValue(name, out var schedule))
        {
            // One key per tick: a tick the reminder service delivers twice is published once.
            var key = string.Concat("schedule:", name, ":", status.CurrentTickTime.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await GrainFactory.GetGrain<ICacheHubGrain>(this.GetPrimaryKeyString()).Publish(CachePublication.Invalidate(schedule.Tags, IdempotencyKeys.Check(key) is null ? key : null));
        }
        else if (await this.GetReminder(reminderName) is { } orphan)
        {
            // The schedule was cancelled but its reminder outlived it: stop it now.
            await this.UnregisterReminder(orphan);
        }
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "Tenant {Tenant} invalidates schedule {Name} every {Period}")]
    private static partial void LogScheduled(ILogger logger, string tenant, string name, TimeSpan period);
}
