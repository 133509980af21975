using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CountCachula.Grains;

/// <summary>
/// The hub of one tenant. It validates what publishers send, gives each event the next number in the tenant's
/// sequence and routes it only where some silo reads: the broadcast stream (silos with <c>*</c> or pattern
/// interests), the notice stream (events for everyone, and a published <c>*</c>), and the stream of each addressed
/// tag that a silo listens to by name. Tags nobody listens to (most of them: one per entity) cost nothing.
/// </summary>
/// <remarks>
/// Not reentrant on purpose: one event at a time keeps the tenant's sequence in publishing order on every stream.
/// Each event is stamped, per receiving silo, with the previous event sent to that silo, so a silo that reads
/// several streams dispatches in order.
/// </remarks>
public sealed partial class CacheHubGrain(
    [PersistentState("schedules", CacheTopics.Storage)] IPersistentState<HubSchedules> schedules,
    [PersistentState("routes", CacheTopics.Storage)] IPersistentState<HubRoutes> routes,
    [PersistentState("history", CacheTopics.Storage)] IPersistentState<HistoryIndex> history,
    IOptions<CountCachulaSiloOptions> options,
    ILogger<CacheHubGrain> logger) : Grain, ICacheHubGrain, IRemindable
{
    private const string ReminderPrefix = "invalidate:";
    private readonly Dictionary<string, long> _lastSent = new(StringComparer.Ordinal);
    private readonly DebounceBuffer _debounce = new();
    private TimeSpan _debounceWindow;
    private IGrainTimer? _debounceTimer;
    private long _sequence;

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Continue after the last stored event; and never below the clock (µs since the epoch), so ids still rise if
        // the storage was lost, and an id from before that can never be mistaken for a new one.
        _sequence = Math.Max(_sequence, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
        if (history.State.Segments.Count > 0)
        {
            // The index is written when a segment starts; the newest segment itself knows how far it got.
            var current = history.State.Segments[^1];
            var events = await Segment(current.Number).Read(0);
            if (events.Count > 0)
            {
                current.Count = events.Count;
                current.LastSequence = events[^1].Sequence;
                current.LastAtUtc = events[^1].PublishedAtUtc;
                _sequence = Math.Max(_sequence, current.LastSequence);
            }
        }

        _debounceWindow = options.Value.DebounceWindowFor(this.GetPrimaryKeyString());
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _debounce.IsEmpty ? Task.CompletedTask : FlushDebouncedAsync();

    /// <inheritdoc />
    public Task Invalidate(IReadOnlyList<string> tags)
    {
        CacheInput.ThrowIfInvalid(tags, "tags");
        if (_debounceWindow <= TimeSpan.Zero)
        {
            return PublishAsync(NextEvent(CacheEventKind.Invalidate, CacheInput.Distinct(tags)));
        }

        // The specification's debounced hub: gather tags for one window, then send their union once.
        _debounce.Add(tags);
        _debounceTimer ??= this.RegisterGrainTimer(_ => FlushDebouncedAsync(), new GrainTimerCreationOptions(_debounceWindow, Timeout.InfiniteTimeSpan));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task PreloadHint(IReadOnlyList<string> routes) => PreloadHint(routes, scopeTags: null);

    /// <inheritdoc />
    public Task PreloadHint(IReadOnlyList<string> routes, IReadOnlyList<string>? scopeTags)
    {
        CacheInput.ThrowIfInvalid(routes, "routes");
        if (scopeTags is not null)
        {
            CacheInput.ThrowIfInvalid(scopeTags, "scopeTags");
        }

        return PublishAsync(NextEvent(CacheEventKind.PreloadHint, CacheInput.Distinct(routes)) with
        {
            ScopeTags = scopeTags is null ? null : CacheInput.Distinct(scopeTags),
        });
    }

    /// <inheritdoc />
    public Task Broadcast(string eventName, string data, IReadOnlyList<string>? scopeTags)
    {
        if (CustomEvents.Check(eventName, data) is { } problem)
        {
            throw new ArgumentException(problem.Message, problem.Key);
        }

        if (scopeTags is not null)
        {
            CacheInput.ThrowIfInvalid(scopeTags, "scopeTags");
        }

        return PublishAsync(NextEvent(CacheEventKind.Custom, []) with
        {
            EventName = eventName,
            Data = data,
            ScopeTags = scopeTags is null ? null : CacheInput.Distinct(scopeTags),
        });
    }

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

    /// <inheritdoc />
    public async Task<long> SetListener(ListenerRoute route, string listenerId, bool listening)
    {
        var table = routes.State;
        var listeners = route.Kind switch
        {
            ListenerRouteKind.Broadcast => table.Broadcast,
            ListenerRouteKind.Notices => table.Notices,
            _ when route.Tag is null => throw new ArgumentException("A tag route needs a tag.", nameof(route)),
            _ => listening ? table.TagListeners(route.Tag) : table.Tags.GetValueOrDefault(route.Tag),
        };

        var changed = listening ? listeners!.Add(listenerId) : listeners?.Remove(listenerId) == true;
        if (!listening && route.Kind == ListenerRouteKind.Tag && listeners is { Count: 0 })
        {
            table.Tags.Remove(route.Tag!);
        }

        if (changed)
        {
            // Kept in grain storage: if this grain moves or restarts, it still knows where silos listen.
            await routes.WriteStateAsync();
        }

        return _lastSent.GetValueOrDefault(listenerId);
    }

    private Task FlushDebouncedAsync()
    {
        _debounceTimer?.Dispose();
        _debounceTimer = null;
        var tags = _debounce.Drain();
        return tags.Length == 0 ? Task.CompletedTask : PublishAsync(NextEvent(CacheEventKind.Invalidate, tags));
    }

    private async Task PublishAsync(CacheEvent cacheEvent)
    {
        LogPublishing(logger, cacheEvent.Tenant, cacheEvent.Sequence, cacheEvent.Kind, cacheEvent.Items.Count);

        // Stored before it is sent: anything a browser or a silo misses can be replayed from here.
        await RecordAsync(cacheEvent);
        await RouteAsync(cacheEvent);
    }

    private Task RouteAsync(CacheEvent cacheEvent)
    {
        var table = routes.State;
        var address = cacheEvent.AddressTags;
        var toNotices = (address is null || address.Contains("*")) && table.Notices.Count > 0;
        var toBroadcast = table.Broadcast.Count > 0;
        List<string>? toTags = null;
        var recipients = new HashSet<string>(StringComparer.Ordinal);
        if (toBroadcast)
        {
            recipients.UnionWith(table.Broadcast);
        }

        if (toNotices)
        {
            recipients.UnionWith(table.Notices);
        }

        if (address is not null && table.Tags.Count > 0)
        {
            foreach (var tag in address)
            {
                if (table.Tags.TryGetValue(tag, out var silos))
                {
                    (toTags ??= []).Add(tag);
                    recipients.UnionWith(silos);
                }
            }
        }

        if (recipients.Count == 0)
        {
            return Task.CompletedTask;
        }

        var previous = new Dictionary<string, long>(recipients.Count, StringComparer.Ordinal);
        foreach (var silo in recipients)
        {
            previous[silo] = _lastSent.GetValueOrDefault(silo);
            _lastSent[silo] = cacheEvent.Sequence;
        }

        var stamped = cacheEvent with { PreviousBySilo = previous };
        var tenant = cacheEvent.Tenant;
        var broadcastGrain = GrainFactory.GetGrain<IBroadcastGrain>(tenant);
        var deliveries = new List<Task>(2 + (toTags?.Count ?? 0));
        if (toBroadcast)
        {
            deliveries.Add(broadcastGrain.Publish(stamped, notice: false));
        }

        if (toNotices)
        {
            deliveries.Add(broadcastGrain.Publish(stamped, notice: true));
        }

        foreach (var tag in toTags ?? [])
        {
            deliveries.Add(GrainFactory.GetGrain<ITagTopicGrain>(CacheTopics.TagKey(tenant, tag)).Publish(stamped));
        }

        return Task.WhenAll(deliveries);
    }

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

    private CacheEvent NextEvent(CacheEventKind kind, string[] items) => new()
    {
        Tenant = this.GetPrimaryKeyString(),
        Sequence = ++_sequence,
        Kind = kind,
        Items = items,
        PublishedAtUtc = DateTime.UtcNow,
    };

    [LoggerMessage(Level = LogLevel.Debug, Message = "Tenant {Tenant} publishes event {Sequence} ({Kind}, {Count} items)")]
    private static partial void LogPublishing(ILogger logger, string tenant, long sequence, CacheEventKind kind, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tenant {Tenant} invalidates schedule {Name} every {Period}")]
    private static partial void LogScheduled(ILogger logger, string tenant, string name, TimeSpan period);
}

/// <summary>Which history segments a tenant keeps, as the hub persists it.</summary>
[GenerateSerializer]
public sealed class HistoryIndex
{
    /// <summary>Retained segments, oldest first.</summary>
    [Id(0)] public List<HistorySegmentInfo> Segments { get; set; } = [];

    /// <summary>Every event after this sequence is retained (it is the newest one dropped, or the one before the first).</summary>
    [Id(1)] public long FloorSequence { get; set; }

    /// <summary>Every event after this time is retained.</summary>
    [Id(2)] public DateTime FloorAtUtc { get; set; }
}

/// <summary>One retained history segment.</summary>
[GenerateSerializer]
public sealed class HistorySegmentInfo
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
}

/// <summary>Where the silos of one tenant listen, as the hub persists it.</summary>
[GenerateSerializer]
public sealed class HubRoutes
{
    /// <summary>Silos reading the broadcast stream.</summary>
    [Id(0)] public HashSet<string> Broadcast { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Silos reading the notice stream.</summary>
    [Id(1)] public HashSet<string> Notices { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Silos reading each tag's stream; a tag with no listener has no entry.</summary>
    [Id(2)] public Dictionary<string, HashSet<string>> Tags { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The listeners of <paramref name="tag"/>, created when missing.</summary>
    public HashSet<string> TagListeners(string tag)
    {
        if (!Tags.TryGetValue(tag, out var listeners))
        {
            Tags[tag] = listeners = new HashSet<string>(StringComparer.Ordinal);
        }

        return listeners;
    }
}

/// <summary>The persisted schedules of one tenant's hub.</summary>
[GenerateSerializer]
public sealed class HubSchedules
{
    /// <summary>Schedules by name.</summary>
    [Id(0)] public Dictionary<string, ScheduledInvalidation> Schedules { get; set; } = new(StringComparer.Ordinal);
}
