namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// Brings one tenant's registrations back when they may have been lost (a registration failed, a silo died, the
/// cluster's pub-sub lost its state): registers everything again, re-checks the inbox subscription, and hands the
/// inbox what the history holds of the recovery window. One recovery at a time; one asked for meanwhile runs again
/// right after. For a listener that is not a silo, it also renews the registrations' lease.
/// </summary>
/// <param name="listener">The tenant's listener.</param>
/// <param name="services">The web server's listener services.</param>
internal sealed partial class ListenerRecovery(TenantListener listener, ListenerServices services)
{
    /// <summary>How often a listener that is not a silo sends its registrations again, so that they do not lapse.</summary>
    private static readonly TimeSpan LeaseRenewal = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private bool _needed;
    private bool _running;
    private bool _again;
    private DateTime _renewedAtUtc = DateTime.UtcNow;
    private DateTime? _failingSinceUtc;

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

    /// <summary>Whether <see cref="CheckAsync"/> has anything to do: an earlier registration or recovery failed, or a lease is due.</summary>
    /// <remarks>Read without the lock (a stale answer only moves the work to the next check): most tenants owe nothing.</remarks>
    public bool Owes(DateTime nowUtc) =>
        _needed || (!services.Identity.IsSilo && nowUtc - _renewedAtUtc > LeaseRenewal);

    /// <summary>A registration failed: the next check recovers.</summary>
    public void Failed()
    {
        lock (_lock)
        {
            _needed = true;
            _failingSinceUtc ??= DateTime.UtcNow;
        }
    }

    /// <summary>
    /// The periodic check, without any call to the cluster unless one is owed: an earlier registration or recovery
    /// failed, or (for a listener that is not a silo) the registrations' lease needs renewing.
    /// </summary>
    public async Task CheckAsync()
    {
        bool recover, renew;
        lock (_lock)
        {
            recover = _needed;
            renew = !recover && !services.Identity.IsSilo && DateTime.UtcNow - _renewedAtUtc > LeaseRenewal;
            if (renew)
            {
                _renewedAtUtc = DateTime.UtcNow;
            }
        }

        if (recover)
        {
            await RecoverAsync("an earlier registration or recovery failed");
        }
        else if (renew)
        {
            // Sending every registration again renews the lease.
            listener.ResendAll();
            await listener.SyncQuietlyAsync();
        }
    }

    /// <summary>
    /// Registers everything again, re-checks the inbox, and dispatches what the history holds of the recovery window
    /// that was not dispatched yet; when the history cannot cover it, every local connection is told to start over.
    /// </summary>
    public async Task RecoverAsync(string reason)
    {
        lock (_lock)
        {
            if (_running)
            {
                _again = true;
                return;
            }

            _running = true;
            _needed = false;
        }

        try
        {
            bool again;
            do
            {
                var since = listener.Events.RecoverySinceUtc;
                lock (_lock)
                {
                    _again = false;
                    _renewedAtUtc = DateTime.UtcNow;
                }

                listener.ResendAll();
                LogRecovering(services.Logger, listener.Tenant, reason);
                await listener.InboxIsKnownAsync();
                await listener.SyncAsync();
                var replay = await services.Client.GetGrain<ICacheHubGrain>(listener.Tenant).Replay(null, since);
                services.Metrics.Recovered();
                listener.Events.Recovered(replay);
                lock (_lock)
                {
                    again = _again;
                    _failingSinceUtc = null;
                }
            }
            while (again);
        }
        catch (Exception exception)
        {
            // The cluster is not ready yet (the hub or a topic grain is moving): the next check tries again.
            Failed();
            LogRecoveryFailed(services.Logger, listener.Tenant, exception);
        }
        finally
        {
            lock (_lock)
            {
                _running = false;
            }
        }
    }

    [LoggerMessage(EventId = 4181, Level = LogLevel.Information, Message = "Tenant {Tenant}: recovering ({Reason}): registering again and reading the history")]
    private static partial void LogRecovering(ILogger logger, string tenant, string reason);

    [LoggerMessage(EventId = 4182, Level = LogLevel.Warning, Message = "Tenant {Tenant}: recovery failed; the next check retries")]
    private static partial void LogRecoveryFailed(ILogger logger, string tenant, Exception exception);
}
