using CountCachula.AspNetCore.Connections;
using CountCachula.Grains;
using CountCachula.AspNetCore.Interests;
using Orleans.Streams;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// One tenant's side of this frontend: reference counts of what its local connections want, reconciled with the
/// topic grains in batches (one call per shard), the tenant's inbox subscription, and dispatch of each event once.
/// A single loop sends the registrations, so listens and unlistens reach the grains in the order they were wanted.
/// </summary>
internal sealed partial class TenantListener(string tenant, ListenerServices services)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _tags = new(StringComparer.Ordinal);
    private readonly HashSet<string> _registeredTags = new(StringComparer.Ordinal);
    private readonly RecentSequences _dispatched = new(16_384);
    private int _patterns;
    private int _connections;
    private bool _registeredEverything;
    private bool _registeredNotices;
    private StreamSubscriptionHandle<CacheEvent>? _inbox;
    private TaskCompletionSource? _pendingSync;
    private bool _syncRunning;
    private bool _needsRecovery;
    private bool _recovering;
    private bool _recoverAgain;
    private bool _closed;
    private bool _touched;
    private long _epoch;
    private DateTime _idleSinceUtc = DateTime.UtcNow;
    private DateTime _verifiedAtUtc = DateTime.UtcNow;
    private DateTime _renewedAtUtc = DateTime.UtcNow;
    private DateTime _coveredFromUtc = DateTime.UtcNow;

    public string Tenant => tenant;

    public bool HasInbox => Volatile.Read(ref _inbox) is not null;

    public bool HasConnections => Volatile.Read(ref _connections) > 0;

    public DateTime VerifiedAtUtc => _verifiedAtUtc;

    public IReadOnlyCollection<string> RegisteredTags()
    {
        lock (_lock)
        {
            return [.. _registeredTags];
        }
    }

    /// <summary>
    /// Counts <paramref name="interests"/> (and a connection, when <paramref name="connection"/>) as wanted.
    /// </summary>
    /// <returns>Null when this listener was closed (take a new one), else whether a registration must complete first.</returns>
    /// <exception cref="ListenBudgetExceededException">The tenant would listen to more distinct tags than allowed here.</exception>
    public bool? TryAcquire(bool connection, IReadOnlyCollection<Interest> interests)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return null;
            }

            var added = interests.Count(i => i.Kind == InterestKind.Exact && !_tags.ContainsKey(i.Value));
            if (added > 0 && _tags.Count + added > services.Options.MaxListenedTagsPerTenant)
            {
                throw new ListenBudgetExceededException(tenant, services.Options.MaxListenedTagsPerTenant);
            }

            var needsSync = _inbox is null;
            _connections += connection ? 1 : 0;
            needsSync |= _connections > 0 && !_registeredNotices;
            foreach (var interest in interests)
            {
                if (interest.Kind == InterestKind.Exact)
                {
                    _tags[interest.Value] = _tags.GetValueOrDefault(interest.Value) + 1;
                    needsSync |= !_registeredTags.Contains(interest.Value);
                }
                else
                {
                    _patterns++;
                    needsSync |= !_registeredEverything;
                }
            }

            return needsSync;
        }
    }

    /// <summary>Stops counting what <see cref="TryAcquire"/> counted; unregisters what nobody wants any more.</summary>
    public void Release(bool connection, IReadOnlyCollection<Interest> interests)
    {
        var unwanted = false;
        lock (_lock)
        {
            foreach (var interest in interests)
            {
                if (interest.Kind != InterestKind.Exact)
                {
                    unwanted |= --_patterns == 0;
                }
                else if (_tags.TryGetValue(interest.Value, out var count))
                {
                    if (count > 1)
                    {
                        _tags[interest.Value] = count - 1;
                    }
                    else
                    {
                        _tags.Remove(interest.Value);
                        unwanted = true;
                    }
                }
            }

            if (connection && --_connections == 0)
            {
                _idleSinceUtc = DateTime.UtcNow;
                unwanted = true;
            }
        }

        if (unwanted)
        {
            _ = SyncQuietlyAsync();
        }
    }

    /// <summary>Completes when a reconciliation that started after this call has completed.</summary>
    public Task SyncAsync()
    {
        lock (_lock)
        {
            var pending = _pendingSync ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_syncRunning)
            {
                _syncRunning = true;
                _ = Task.Run(SyncLoopAsync);
            }

            return pending.Task;
        }
    }

    /// <summary>Takes an event from the inbox: dispatches it unless it was already, and recovers when the hub moved.</summary>
    public void Offer(CacheEvent cacheEvent)
    {
        bool hubMoved;
        lock (_lock)
        {
            hubMoved = _epoch != 0 && cacheEvent.HubEpoch != _epoch;
            _epoch = cacheEvent.HubEpoch;
            if (_dispatched.Add(cacheEvent.Sequence))
            {
                services.Dispatcher.Dispatch(cacheEvent);
            }
        }

        if (hubMoved)
        {
            _ = RecoverAsync("the hub moved to a new activation");
        }
    }

    /// <summary>
    /// The periodic check: is the inbox subscription still known to the cluster's pub-sub? Re-establishes it, with
    /// every registration and whatever the history holds of the recovery window, when it is not, when an earlier
    /// registration failed, or (for a listener that is not a silo) when the lease needs renewing.
    /// </summary>
    public async Task CheckAsync()
    {
        var now = DateTime.UtcNow;
        var lost = !await InboxIsKnownAsync();
        bool again;
        lock (_lock)
        {
            again = _needsRecovery || (!services.Identity.IsSilo && now - _renewedAtUtc > TimeSpan.FromMinutes(1));
        }

        if (lost || again)
        {
            await RecoverAsync(lost ? "the inbox subscription was lost" : "registrations needed renewing");
        }

        lock (_lock)
        {
            if (!_needsRecovery)
            {
                _verifiedAtUtc = now;
            }
        }
    }

    /// <summary>
    /// Registers everything again, re-checks the inbox, and dispatches what the history holds of the recovery window
    /// that was not dispatched yet; when the history cannot cover it, tells every local connection to start over.
    /// </summary>
    public async Task RecoverAsync(string reason)
    {
        lock (_lock)
        {
            if (_recovering)
            {
                _recoverAgain = true;
                return;
            }

            _recovering = true;
            _needsRecovery = false;
        }

        try
        {
            bool again;
            do
            {
                // Nothing before this listener existed concerns it; and the hub's history vouches only for the time
                // since it was created, which a frontend confirms once it starts listening (see TouchHubAsync).
                var since = DateTime.UtcNow - services.Options.RecoveryWindow;
                lock (_lock)
                {
                    since = since > _coveredFromUtc ? since : _coveredFromUtc;
                }

                lock (_lock)
                {
                    _recoverAgain = false;
                    _registeredTags.Clear();
                    _registeredEverything = false;
                    _registeredNotices = false;
                    _renewedAtUtc = DateTime.UtcNow;
                }

                LogRecovering(services.Logger, tenant, reason);
                await InboxIsKnownAsync();
                await SyncAsync();
                var replay = await services.Client.GetGrain<ICacheHubGrain>(tenant).Replay(null, since);
                services.Metrics.Recovered();
                DispatchRecovered(replay);
                lock (_lock)
                {
                    again = _recoverAgain;
                }
            }
            while (again);
        }
        catch (Exception exception)
        {
            // The cluster is not ready yet (the hub or a topic grain is moving): the next check tries again.
            lock (_lock)
            {
                _needsRecovery = true;
            }

            LogRecoveryFailed(services.Logger, tenant, exception);
        }
        finally
        {
            lock (_lock)
            {
                _recovering = false;
            }
        }
    }

    /// <summary>Closes the listener when nothing of the tenant has been wanted here for <paramref name="grace"/>.</summary>
    public bool TryClose(DateTime nowUtc, TimeSpan grace)
    {
        lock (_lock)
        {
            if (_closed || _connections > 0 || _tags.Count > 0 || _patterns > 0 || nowUtc - _idleSinceUtc < grace)
            {
                return false;
            }

            _closed = true;
            return true;
        }
    }

    /// <summary>
    /// Makes sure the tenant's hub, and so its history, exists from now on (it is created on first use), so a later
    /// recovery can tell "nothing happened" from "the history was lost". Off the connect path: never delays a stream.
    /// </summary>
    private async Task TouchHubAsync()
    {
        try
        {
            await services.Client.GetGrain<ICacheHubGrain>(tenant).GetHistoryStats();
            lock (_lock)
            {
                _coveredFromUtc = DateTime.UtcNow;
            }
        }
        catch (Exception exception)
        {
            LogRecoveryFailed(services.Logger, tenant, exception);
        }
    }

    private void DispatchRecovered(CacheReplay replay)
    {
        if (!replay.Complete)
        {
            // The history cannot say what happened: nothing may be silently lost, so every local page starts over.
            services.Metrics.Replayed(complete: false);
            LogReset(services.Logger, tenant);
            // Through the writer shards like events, so that it reaches each page after every event dispatched before.
            var frames = new PerShardFrames();
            foreach (var connection in services.Registry.Snapshot(tenant))
            {
                frames.Add(connection, s_reset);
                frames.Add(connection, SseFrame.Invalidation(["*"], connection.Format, replay.Through));
            }

            frames.Hand();
            return;
        }

        lock (_lock)
        {
            foreach (var cacheEvent in replay.Events)
            {
                if (_dispatched.Add(cacheEvent.Sequence))
                {
                    services.Dispatcher.Dispatch(cacheEvent);
                }
            }
        }
    }

    private static readonly SseFrame s_reset = SseFrame.Create(id: null, "reset", """{"reason":"history-unavailable"}""");
}
