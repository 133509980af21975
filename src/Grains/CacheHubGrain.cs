using System.Runtime.ExceptionServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CountCachula.Grains;

/// <summary>
/// The hub of one tenant: validates what publishers send, gives each event the next number in the tenant's sequence,
/// records it in the history and routes it to the broadcast grain and the tag-topic shards of its tags. It knows
/// nothing about listeners: the topic grains own them.
/// </summary>
/// <remarks>
/// <para>
/// Not reentrant on purpose: one event at a time, each routed before the next, so every inbox stream receives the
/// tenant's events in sequence order. Only one activation's sequence can win: the history's append is a
/// compare-and-set on the newest recorded sequence, and an activation that loses it deactivates instead of issuing a
/// competing id range.
/// </para>
/// <para>
/// Routing does not wait for the history write: both start together, and the publish returns (202) once the event
/// is recorded and its route finished. When the write fails or loses the compare-and-set, listeners may already have
/// the event: the publisher gets <see cref="HubUnavailableException"/> (503) and retries, and the unrecorded copy is
/// one extra delivery. What keeps that gap-free is that its id is never given to a recorded event: routing alongside
/// is allowed only right after this activation's own append succeeded (its first event, and the first after a failed
/// one, are recorded before they are routed), so the unrecorded id is always the one right after an id this
/// activation recorded, L + 1; whoever records after L read L at activation and starts at L + 2. So frontends, which
/// drop a second copy by id, never drop a recorded event for an unrecorded one, and a browser resuming after the
/// unrecorded id gets every recorded event after it (until the next activation records, that id is past the
/// history's end and the browser is told to reset). A publish with an idempotency key is recorded before it is
/// routed, so a retry with the key after a 503 can never deliver the event twice.
/// </para>
/// </remarks>
internal sealed partial class CacheHubGrain(
    [PersistentState("history", CacheTopics.Storage)] IPersistentState<HistoryIndex> historyState,
    IOptions<CountCachulaSiloOptions> options,
    HubMetrics metrics,
    ILogger<CacheHubGrain> logger) : Grain, ICacheHubGrain
{
    private readonly DebounceBuffer _debounce = new();
    private readonly RoutedListeners _links = new();
    private readonly long _epoch = Random.Shared.NextInt64(1, long.MaxValue);
    private HubHistory _history = null!;
    private IdempotencyWindow _keys = null!;
    private TimeSpan _debounceWindow;
    private IGrainTimer? _debounceTimer;
    private long _sequence;
    private bool _ownsSequence;

    private string Tenant => this.GetPrimaryKeyString();

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = DateTime.UtcNow;
        _history = new HubHistory(historyState, GrainFactory, Tenant, settings);
        _keys = new IdempotencyWindow(settings.IdempotencyWindow, settings.IdempotencyMaxKeys);
        await _history.LoadAsync(_keys, now);

        // Continue after the last stored event, one id further: the activation before may have routed the id right
        // after it without recording it (see the remarks), and no recorded event may ever share an id with that one.
        // And never below the clock (µs since the epoch), so ids still rise if the storage was lost, and an id from
        // before that can never be mistaken for a new one.
        _sequence = Math.Max(_history.LastSequence + 1, new DateTimeOffset(now).ToUnixTimeMilliseconds() * 1000);
        _debounceWindow = settings.DebounceWindowFor(Tenant);

        // The previous activation may have recorded events it never routed (it failed, or its silo died, between the
        // two): route the recent ones again, right after activation. Listeners drop what they already have.
        // Only what was recorded before this activation: its own events it routes itself.
        var recordedBefore = _history.LastSequence;
        if (recordedBefore > 0 && settings.RerouteOnActivation > TimeSpan.Zero)
        {
            this.RegisterGrainTimer(ct => RerouteRecentAsync(recordedBefore, ct), new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
        }
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _debounce.IsEmpty ? Task.CompletedTask : FlushDebouncedAsync();

    /// <inheritdoc />
    public async Task<PublishReceipt> Publish(CachePublication publication)
    {
        var cacheEvent = Publications.Validate(publication, NewEvent, options.Value.MaxCustomEventBytes);
        using var span = HubTracing.StartPublish(Tenant, cacheEvent.Kind, cacheEvent.Items.Count);
        var key = publication.IdempotencyKey;
        if (key is not null && _keys.TryGet(key, DateTime.UtcNow, out var original, out var fingerprint))
        {
            if (fingerprint != IdempotencyWindow.Fingerprint(cacheEvent))
            {
                // The same key for another event: dropping it silently would lose that event, repeating it would
                // break the key's promise. The caller is told, and nothing is published.
                span?.SetTag(CacheTracing.OutcomeTag, "key-reused");
                throw new IdempotencyKeyReusedException(
                    $"The Idempotency-Key '{key}' was accepted for a different publication (event {original}); send a retry exactly as the first request, and a new event with a new key.");
            }

            metrics.Repeated(Tenant);
            span?.SetTag(CacheTracing.OutcomeTag, "repeated").SetTag(CacheTracing.EventIdTag, original);
            return new PublishReceipt(original, Repeated: true);
        }

        if (cacheEvent.Kind == CacheEventKind.Invalidate && _debounceWindow > TimeSpan.Zero && key is null)
        {
            // Debounced: gather tags for one window, then send their union once. A keyed
            // publish is sequenced at once instead, so its key can answer for exactly one event.
            _debounce.Add(cacheEvent.Items);
            _debounceTimer ??= this.RegisterGrainTimer(_ => FlushDebouncedAsync(), new GrainTimerCreationOptions(_debounceWindow, Timeout.InfiniteTimeSpan));
            span?.SetTag(CacheTracing.OutcomeTag, "debounced");
            return new PublishReceipt(0, Repeated: false);
        }

        try
        {
            var sequence = await PublishAsync(cacheEvent);
            span?.SetTag(CacheTracing.EventIdTag, sequence);
            return new PublishReceipt(sequence, Repeated: false);
        }
        catch (Exception exception)
        {
            HubTracing.Failed(span, exception);
            throw;
        }
    }

    /// <inheritdoc />
    public Task Invalidate(IReadOnlyList<string> tags) => Publish(CachePublication.Invalidate(tags));

    /// <inheritdoc />
    public Task PreloadHint(IReadOnlyList<string> routes) => Publish(CachePublication.PreloadHint(routes));

    /// <inheritdoc />
    public Task PreloadHint(IReadOnlyList<string> routes, IReadOnlyList<string>? scopeTags) => Publish(CachePublication.PreloadHint(routes, scopeTags));

    /// <inheritdoc />
    public Task Broadcast(string eventName, string data, IReadOnlyList<string>? scopeTags) => Publish(CachePublication.Custom(eventName, data, scopeTags));

    /// <inheritdoc />
    public Task<CacheReplay> Replay(long? afterSequence, DateTime? since) => _history.ReplayAsync(afterSequence, since);

    /// <inheritdoc />
    public Task<IReadOnlyList<CacheEvent>> Recent(int count) => _history.RecentAsync(count);

    /// <inheritdoc />
    public Task<HistoryStats> GetHistoryStats() => Task.FromResult(_history.Stats);

    /// <inheritdoc />
    public Task<string> GetSilo() =>
        Task.FromResult(ServiceProvider.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString());

    private async Task RerouteRecentAsync(long recordedBefore, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var cacheEvent in (await _history.SinceAsync(DateTime.UtcNow - options.Value.RerouteOnActivation)).Where(e => e.Sequence <= recordedBefore))
            {
                await RouteAsync(cacheEvent);
            }
        }
        catch (Exception exception)
        {
            LogRouteFailed(logger, Tenant, 0, exception);
        }
    }

    private async Task FlushDebouncedAsync()
    {
        _debounceTimer?.Dispose();
        _debounceTimer = null;
        var tags = _debounce.Drain();
        if (tags.Length == 0)
        {
            return;
        }

        // The gathered publishes each ended with their own span; the event they became gets its own publish span.
        using var span = HubTracing.StartPublish(Tenant, CacheEventKind.Invalidate, tags.Length);
        try
        {
            var sequence = await PublishAsync(NewEvent(CacheEventKind.Invalidate, tags));
            span?.SetTag(CacheTracing.EventIdTag, sequence);
        }
        catch (Exception exception)
        {
            HubTracing.Failed(span, exception);
            throw;
        }
    }

    /// <summary>
    /// Sequences, records and routes one event; returns its sequence once it is recorded and its route finished. The
    /// record and the route start together when this activation's last append proved it owns the sequence and the
    /// event has no idempotency key; otherwise the event is routed only once recorded (see the class remarks).
    /// </summary>
    private async Task<long> PublishAsync(CacheEvent unsequenced)
    {
        // The event carries the publish span's context, so each frontend's dispatch span continues the same trace.
        var cacheEvent = unsequenced with { Sequence = ++_sequence, TraceParent = HubTracing.CurrentTraceParent() };
        var sequencedAt = DateTime.UtcNow.Ticks;
        LogPublishing(logger, Tenant, cacheEvent.Sequence, cacheEvent.Kind, cacheEvent.Items.Count);
        var alongside = _ownsSequence && cacheEvent.IdempotencyKey is null;
        _ownsSequence = false;
        var record = RecordAsync(cacheEvent);
        var route = alongside ? RouteAsync(cacheEvent with { Hops = new EventHops { SequencedTicks = sequencedAt, RoutedTicks = sequencedAt } }) : null;
        Exception? failure = null;
        try
        {
            await record;
        }
        catch (Exception exception)
        {
            failure = exception;
        }

        var recordedAt = DateTime.UtcNow.Ticks;
        if (failure is null)
        {
            _ownsSequence = true;
            metrics.Recorded(sequencedAt, recordedAt);
            if (cacheEvent.IdempotencyKey is { } key)
            {
                _keys.Add(key, cacheEvent);
            }

            metrics.Published(cacheEvent);
        }

        // The next event is not routed before this one's route finished, recorded or not: each inbox keeps the order.
        await (route ?? (failure is null
            ? RouteAsync(cacheEvent with { Hops = new EventHops { SequencedTicks = sequencedAt, RoutedTicks = recordedAt } })
            : Task.CompletedTask));
        if (failure is not null)
        {
            // What this activation believes may no longer be true: the next call gets a fresh activation that reads
            // where the history really stands.
            DeactivateOnIdle();
            ExceptionDispatchInfo.Throw(failure);
        }

        return cacheEvent.Sequence;
    }

    /// <summary>Records the event; throws <see cref="HubUnavailableException"/> when storage fails or another activation owns the sequence.</summary>
    private async Task RecordAsync(CacheEvent cacheEvent)
    {
        bool recorded;
        try
        {
            recorded = await _history.RecordAsync(cacheEvent);
        }
        catch (Exception exception)
        {
            LogRecordFailed(logger, Tenant, exception);
            throw new HubUnavailableException($"The hub of tenant '{Tenant}' could not record the event: {exception.Message}", exception);
        }

        if (!recorded)
        {
            LogLostSequence(logger, Tenant, cacheEvent.Sequence);
            throw new HubUnavailableException($"Another activation of the hub of tenant '{Tenant}' owns its sequence; retry.");
        }
    }

    /// <summary>
    /// Hands the event to the broadcast grain and to the topic shard of each of its tags, and waits for all of them,
    /// so the next event cannot overtake it. Failing or slow routing does not fail the publish: it is recorded. The
    /// event carries what this activation routed to each listener before (<see cref="RouteLinks"/>), and the routers'
    /// answers say whom it reached, so the next event to each listener names this one as its predecessor.
    /// </summary>
    private async Task RouteAsync(CacheEvent cacheEvent)
    {
        var routed = cacheEvent with { Links = _links.Snapshot() };
        var routes = new List<Task<IReadOnlyList<string>>>(4) { GrainFactory.GetGrain<IBroadcastGrain>(Tenant).Route(routed) };
        if (cacheEvent.AddressTags is { } tags)
        {
            var shards = new HashSet<int>();
            foreach (var tag in tags)
            {
                if (shards.Add(CacheTopics.ShardOf(tag)))
                {
                    routes.Add(GrainFactory.GetGrain<ITagTopicGrain>(CacheTopics.TopicKeyFor(Tenant, tag)).Route(routed));
                }
            }
        }

        try
        {
            await Task.WhenAll(routes).WaitAsync(options.Value.RouteTimeout);
        }
        catch (Exception exception)
        {
            metrics.RouteFailed(Tenant);
            LogRouteFailed(logger, Tenant, cacheEvent.Sequence, exception);
        }

        // A router that failed cannot say whom it reached: the event counts as routed to every listener.
        var failed = false;
        foreach (var route in routes)
        {
            if (route.IsCompletedSuccessfully)
            {
                _links.Routed(route.Result, cacheEvent.Sequence);
            }
            else
            {
                failed = true;
            }
        }

        if (failed)
        {
            _links.Failed(cacheEvent.Sequence);
        }
    }

    private CacheEvent NewEvent(CacheEventKind kind, string[] items) => new()
    {
        Tenant = Tenant,
        Sequence = 0,
        Kind = kind,
        Items = items,
        PublishedAtUtc = DateTime.UtcNow,
        HubEpoch = _epoch,
    };
}
