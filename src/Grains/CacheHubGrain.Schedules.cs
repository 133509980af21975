namespace CountCachula.Grains;

/// <summary>The hub's time-based invalidations: named schedules fired by Orleans reminders.</summary>
internal sealed partial class CacheHubGrain
{
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

        if (schedules.State.Schedules.TryGetValue(reminderName[ReminderPrefix.Length..], out var schedule))
        {
            await PublishAsync(NextEvent(CacheEventKind.Invalidate, [.. schedule.Tags]));
        }
        else if (await this.GetReminder(reminderName) is { } orphan)
        {
            // The schedule was cancelled but its reminder outlived it: stop it now.
            await this.UnregisterReminder(orphan);
        }
    }
}
