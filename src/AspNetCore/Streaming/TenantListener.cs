using CountCachula.AspNetCore.Interests;
using Orleans.Streams;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// One tenant's side of this frontend: what its local connections want (<see cref="WantedInterests"/>), reconciled
/// with the topic grains in batches (one call per shard), and the tenant's inbox subscription. A single loop sends the
/// registrations, so listens and unlistens reach the grains in the order they were wanted. The events themselves go
/// through <see cref="Events"/>; a recovery, when registrations may have been lost, through <see cref="Recovery"/>.
/// </summary>
internal sealed partial class TenantListener(string tenant, ListenerServices services)
{
    private readonly Lock _lock = new();
    private readonly WantedInterests _wanted = new();
    private ListenerRecovery? _recovery;
    private readonly HashSet<string> _registeredTags = new(StringComparer.Ordinal);
    private bool _registeredEverything;
    private bool _registeredNotices;

    // What an unlisten in flight is taking away: still registered until it completes, but a connection that wants it
    // now must not count on it, or it would be left with nothing once the unlisten lands.
    private readonly HashSet<string> _unlisteningTags = new(StringComparer.Ordinal);
    private bool _unlisteningEverything;
    private bool _unlisteningNotices;
    private StreamSubscriptionHandle<CacheEvent>? _inbox;
    private TaskCompletionSource? _pendingSync;
    private bool _syncRunning;
    private bool _closed;
    private bool _touched;

    // Every registration is sent again at the next reconciliation (the grains may have lost them). What was registered
    // still counts as registered meanwhile: a new stream does not wait for the refresh, the recovery's replay covers it.
    private bool _resend;

    public string Tenant => tenant;

    /// <summary>The tenant's events on this web server, in order (see <see cref="TenantInbox"/>).</summary>
    public TenantInbox Events { get; } = new(tenant, services);

    /// <summary>What brings the registrations back when they may have been lost (see <see cref="ListenerRecovery"/>).</summary>
    public ListenerRecovery Recovery => _recovery ?? LazyInitializer.EnsureInitialized(ref _recovery, () => new ListenerRecovery(this, services));

    public bool HasInbox => Volatile.Read(ref _inbox) is not null;

    public bool HasConnections => _wanted.AnyConnection;

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

            var added = _wanted.CountNew(interests);
            if (added > 0 && _wanted.TagCount + added > services.Options.MaxListenedTagsPerTenant)
            {
                throw new ListenBudgetExceededException(tenant, services.Options.MaxListenedTagsPerTenant);
            }

            _wanted.Add(connection, interests);
            var needsSync = _inbox is null || (_wanted.AnyConnection && (!_registeredNotices || _unlisteningNotices));
            foreach (var interest in interests)
            {
                needsSync |= interest.Kind == InterestKind.Exact
                    ? !_registeredTags.Contains(interest.Value) || _unlisteningTags.Contains(interest.Value)
                    : !_registeredEverything || _unlisteningEverything;
            }

            return needsSync;
        }
    }

    /// <summary>Stops counting what <see cref="TryAcquire"/> counted; unregisters what nobody wants any more.</summary>
    public void Release(bool connection, IReadOnlyCollection<Interest> interests)
    {
        bool unwanted;
        lock (_lock)
        {
            unwanted = _wanted.Remove(connection, interests);
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

    /// <summary>Closes the listener when nothing of the tenant has been wanted here for <paramref name="grace"/>.</summary>
    public bool TryClose(DateTime nowUtc, TimeSpan grace)
    {
        lock (_lock)
        {
            if (_closed || !_wanted.IdleFor(nowUtc, grace))
            {
                return false;
            }

            _closed = true;
            return true;
        }
    }

    /// <summary>Every registration is sent again at the next reconciliation.</summary>
    internal void ResendAll()
    {
        lock (_lock)
        {
            _resend = true;
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
            LogHubUnconfirmed(services.Logger, tenant, exception);
        }
    }
}
