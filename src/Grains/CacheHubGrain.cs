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
internal sealed partial class CacheHubGrain(
    [PersistentState("schedules", CacheTopics.Storage)] IPersistentState<HubSchedules> schedules,
    [PersistentState("routes", CacheTopics.Storage)] IPersistentState<HubRoutes> routes,
    [PersistentState("history", CacheTopics.Storage)] IPersistentState<HistoryIndex> history,
    IOptions<CountCachulaSiloOptions> options,
    HubMetrics metrics,
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
        metrics.Published(cacheEvent);
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
