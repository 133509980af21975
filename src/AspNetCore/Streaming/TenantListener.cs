using CountCachula.AspNetCore.Interests;
using Orleans.Streams;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// One tenant's side of this frontend: reference counts of what its local connections want, reconciled with the
/// topic grains in batches (one call per shard), the tenant's inbox subscription, and recovery when registrations may
/// have been lost. A single loop sends the registrations, so listens and unlistens reach the grains in the order they
/// were wanted. The events themselves go through <see cref="Events"/>.
/// </summary>
internal sealed partial class TenantListener(string tenant, ListenerServices services)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _tags = new(StringComparer.Ordinal);
    private readonly HashSet<string> _registeredTags = new(StringComparer.Ordinal);
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

    // Every registration is sent again at the next reconciliation (the grains may have lost them). What was registered
    // still counts as registered meanwhile: a new stream does not wait for the refresh, the recovery's replay covers it.
    private bool _resend;
    private DateTime _idleSinceUtc = DateTime.UtcNow;
    private DateTime _renewedAtUtc = DateTime.UtcNow;
    private DateTime? _failingSinceUtc;

    public string Tenant => tenant;

    /// <summary>The tenant's events on this web server, in order (see <see cref="TenantInbox"/>).</summary>
    public TenantInbox Events { get; } = new(tenant, services);

    public bool HasInbox => Volatile.Read(ref _inbox) is not null;

    public bool HasConnections => Volatile.Read(ref _connections) > 0;

    /// <summary>Since when registering or recovering has been failing (retried by each check); null when it is not.</summary>
    public DateTime? FailingSinceUtc
    {
        get
        {
            lock (_lock)
            {
                return _failingSinceUtc;
            }
        }
    }

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

    /// <summary>Takes an event from the inbox.</summary>
    public void Offer(CacheEvent cacheEvent) => Events.Offer(cacheEvent);

    /// <summary>Whether <see cref="CheckAsync"/> has anything to do: an earlier registration or recovery failed, or a lease is due.</summary>
    /// <remarks>Read without the lock (a stale answer only moves the work to the next check): most tenants owe nothing.</remarks>
    public bool OwesCheck(DateTime nowUtc) =>
        _needsRecovery || (!services.Identity.IsSilo && nowUtc - _renewedAtUtc > TimeSpan.FromMinutes(1));

    /// <summary>
    /// The periodic check, without any call to the cluster unless one is owed: an earlier registration or recovery
    /// failed, or (for a listener that is not a silo) the registrations' lease needs renewing.
    /// </summary>
    public async Task CheckAsync()
    {
        bool recover, renew;
        lock (_lock)
        {
            recover = _needsRecovery;
            renew = !recover && !services.Identity.IsSilo && DateTime.UtcNow - _renewedAtUtc > TimeSpan.FromMinutes(1);
        }

        if (recover)
        {
            await RecoverAsync("an earlier registration or recovery failed");
        }
        else if (renew)
        {
            await RenewAsync();
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
                var since = Events.RecoverySinceUtc;
                lock (_lock)
                {
                    _recoverAgain = false;
                    _resend = true;
                    _renewedAtUtc = DateTime.UtcNow;
                }

                LogRecovering(services.Logger, tenant, reason);
                await InboxIsKnownAsync();
                await SyncAsync();
                var replay = await services.Client.GetGrain<ICacheHubGrain>(tenant).Replay(null, since);
                services.Metrics.Recovered();
                Events.Recovered(replay);
                lock (_lock)
                {
                    again = _recoverAgain;
                    _failingSinceUtc = null;
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
                _failingSinceUtc ??= DateTime.UtcNow;
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

    /// <summary>Sends every registration again, which renews the lease of a listener that is not a silo.</summary>
    private async Task RenewAsync()
    {
        lock (_lock)
        {
            _resend = true;
            _renewedAtUtc = DateTime.UtcNow;
        }

        await SyncQuietlyAsync();
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
            Events.HubConfirmed(DateTime.UtcNow);
        }
        catch (Exception exception)
        {
            LogRecoveryFailed(services.Logger, tenant, exception);
        }
    }
}
