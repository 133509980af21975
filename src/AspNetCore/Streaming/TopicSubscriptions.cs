using System.Collections.Concurrent;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Interests;
using Microsoft.Extensions.Options;
using Orleans.Streams;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// This frontend's side of the routing: per tenant with local connections, one subscription to the tenant's inbox
/// stream and registrations with the topic grains for what the connections want (exact tags with their shards,
/// patterns and <c>*</c> with the broadcast grain, any connection for events addressed to everyone), reference-counted
/// and released symmetrically. A tenant with nothing left here is forgotten after <see cref="CountCachulaOptions.UnsubscribeGrace"/>.
/// </summary>
internal sealed partial class TopicSubscriptions
{
    private readonly ConcurrentDictionary<string, TenantListener> _tenants = new(StringComparer.Ordinal);
    private readonly ListenerServices _services;
    private readonly CountCachulaOptions _options;
    private readonly SubscriptionCanary _canary;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<string, Task> _closing = new(StringComparer.Ordinal);
    private readonly IdleMemoryTrim _trim = new(IdleMemoryTrim.DefaultThreshold, IdleMemoryTrim.DefaultDelay);

    /// <summary>Creates the subscriptions of this frontend.</summary>
    public TopicSubscriptions(
        IClusterClient client,
        ListenerIdentity identity,
        CacheEventDispatcher dispatcher,
        ConnectionRegistry registry,
        CountCachulaMetrics metrics,
        IOptions<CountCachulaOptions> options,
        ILogger<TopicSubscriptions> logger)
    {
        _options = options.Value;
        _services = new ListenerServices(client, identity, dispatcher, registry, metrics, _options, logger, OnEventAsync, SignalChange);
        _canary = new SubscriptionCanary(client, identity);
    }

    /// <summary>This frontend's listener id, as the topic grains know it.</summary>
    public string ListenerId => _services.Identity.Id;

    /// <summary>This frontend's silo (its parsable address), or its listener id when no silo is co-hosted.</summary>
    public string SiloId => _services.Identity.IsSilo ? _services.Identity.Id[CacheListeners.SiloPrefix.Length..] : _services.Identity.Id;

    /// <summary>How many inbox streams this frontend is subscribed to (one per tenant it serves).</summary>
    public int Count => _services.Metrics.Subscriptions;

    /// <summary>How many tenants this frontend keeps state for.</summary>
    public int TenantCount => _tenants.Count;

    /// <summary>Whether this frontend reads <paramref name="tenant"/>'s inbox.</summary>
    public bool IsSubscribedToInbox(string tenant) => _tenants.TryGetValue(tenant, out var t) && t.HasInbox;

    /// <summary>The exact tags of <paramref name="tenant"/> this frontend has registered with the topic grains.</summary>
    public IReadOnlyCollection<string> RegisteredTags(string tenant) => _tenants.TryGetValue(tenant, out var t) ? t.RegisteredTags() : [];

    /// <summary>
    /// Null when this frontend's stream subscriptions were verified within three check intervals and no tenant with
    /// connections has been failing to register or recover for as long, else why not: it may not be able to deliver.
    /// </summary>
    public string? DeliveryProblem()
    {
        var limit = DateTime.UtcNow - (3 * _options.InboxCheckInterval);
        if (_canary.VerifiedAtUtc < limit)
        {
            return $"This server's stream subscriptions have not been verified since {limit:O}.";
        }

        var failing = _tenants.Values.Where(t => t.HasConnections && t.Recovery.FailingSinceUtc < limit).Select(t => t.Tenant).Take(5).ToList();
        return failing.Count == 0 ? null : $"Registering tenant(s) {string.Join(", ", failing)} with the cluster has been failing since before {limit:O}.";
    }

    /// <summary>Completes at the next subscribe, unsubscribe or registration: lets tests wait instead of polling.</summary>
    public Task WhenChanged() => Volatile.Read(ref _changed).Task;

    /// <summary>Takes what a new connection with <paramref name="interests"/> needs before it receives anything.</summary>
    /// <exception cref="ListenBudgetExceededException">The tenant listens to too many distinct tags here.</exception>
    /// <exception cref="TimeoutException">The cluster did not confirm within <see cref="CountCachulaOptions.SubscribeTimeout"/>; nothing is held.</exception>
    public Task AcquireConnectionAsync(string tenant, IEnumerable<Interest> interests, CancellationToken cancellationToken) =>
        AcquireAsync(tenant, connection: true, [.. interests], cancellationToken);

    /// <summary>Gives back what <see cref="AcquireConnectionAsync"/> took for a connection with <paramref name="interests"/>.</summary>
    public Task ReleaseConnectionAsync(string tenant, IEnumerable<Interest> interests)
    {
        Release(tenant, connection: true, [.. interests]);
        return Task.CompletedTask;
    }

    /// <summary>Takes what <paramref name="interests"/> need; on failure holds nothing.</summary>
    public Task AcquireAsync(string tenant, IEnumerable<Interest> interests, CancellationToken cancellationToken) =>
        AcquireAsync(tenant, connection: false, [.. interests], cancellationToken);

    /// <summary>Gives back what <paramref name="interests"/> needed.</summary>
    public Task ReleaseAsync(string tenant, IEnumerable<Interest> interests)
    {
        Release(tenant, connection: false, [.. interests]);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Every check interval: one call to see that the cluster's stream pub-sub still knows this server's subscriptions
    /// (they are all lost together when its storage comes back empty), then, per tenant and without calling the
    /// cluster unless something is owed, retries what failed and forgets tenants idle past the grace period.
    /// </summary>
    internal async Task CheckAllAsync(CancellationToken cancellationToken)
    {
        if (!await _canary.IsKnownAsync())
        {
            LogSubscriptionsLost(_services.Logger);
            await RecoverAllAsync("the cluster's stream pub-sub lost this server's subscriptions");
        }

        var now = DateTime.UtcNow;
        var forgotten = 0;
        foreach (var (tenant, listener) in _tenants)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // Most tenants have streams and owe nothing: a volatile read each, no lock, no call, nothing awaited.
            if (!listener.HasConnections && listener.TryClose(now, _options.UnsubscribeGrace))
            {
                // Evicted first, so an acquire from now on builds a fresh listener; this one only tears down.
                _tenants.TryRemove(new KeyValuePair<string, TenantListener>(tenant, listener));
                var closing = CloseQuietlyAsync(listener);
                _closing[tenant] = closing;
                await closing;
                _closing.TryRemove(new KeyValuePair<string, Task>(tenant, closing));
                forgotten++;
                continue;
            }

            if (!listener.Recovery.Owes(now))
            {
                continue;
            }

            try
            {
                await listener.Recovery.CheckAsync();
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                LogCheckFailed(_services.Logger, tenant, exception);
            }
        }

        _trim.Forgot(forgotten, now);
        if (_trim.MaybeTrim(now))
        {
            LogTrimmed(_services.Logger, _tenants.Count, GC.GetTotalMemory(forceFullCollection: false));
        }
    }

    /// <summary>Recovers every tenant: something happened that may have cost this frontend events or registrations.</summary>
    internal Task RecoverAllAsync(string reason) => Task.WhenAll(_tenants.Values.Select(t => t.Recovery.RecoverAsync(reason)));

    /// <summary>
    /// Registers <paramref name="connection"/> (whose tenant has been acquired) at its place in the tenant's order; see
    /// <see cref="TenantInbox.Open"/>.
    /// </summary>
    public TenantInbox.LocalReplay? Open(SseConnection connection, long? afterSequence, DateTime? sinceUtc) =>
        _tenants.TryGetValue(connection.Tenant, out var listener)
            ? listener.Events.Open(connection, _services.Registry, afterSequence, sinceUtc)
            : throw new InvalidOperationException($"Tenant '{connection.Tenant}' was not acquired before its connection opened.");

    private async Task AcquireAsync(string tenant, bool connection, Interest[] interests, CancellationToken cancellationToken)
    {
        await _canary.EnsureAsync(cancellationToken);
        while (true)
        {
            var listener = _tenants.GetOrAdd(tenant, static (name, services) => new TenantListener(name, services), _services);
            var needsSync = listener.TryAcquire(connection, interests);
            if (needsSync is null)
            {
                // Closed by eviction a moment ago: the next lookup builds a fresh one.
                _tenants.TryRemove(new KeyValuePair<string, TenantListener>(tenant, listener));
                continue;
            }

            if (needsSync == false)
            {
                return;
            }

            try
            {
                // A listener of this tenant evicted a moment ago may still be unregistering: this server's registrations
                // carry one listener id for both, so its Unlisten must reach the topic grains before the new Listen,
                // or it would cancel the new registration and the tenant's events would stop reaching this server.
                if (_closing.TryGetValue(tenant, out var closing))
                {
                    await closing.WaitAsync(_options.SubscribeTimeout, cancellationToken);
                }

                await listener.SyncAsync().WaitAsync(_options.SubscribeTimeout, cancellationToken);
                return;
            }
            catch
            {
                listener.Release(connection, interests);
                throw;
            }
        }
    }

    private void Release(string tenant, bool connection, Interest[] interests)
    {
        if (_tenants.TryGetValue(tenant, out var listener))
        {
            listener.Release(connection, interests);
        }
    }

    private static async Task CloseQuietlyAsync(TenantListener listener)
    {
        try
        {
            await listener.SyncAsync();
        }
        catch (Exception)
        {
            // Its registrations are dropped by the topic grains when the inbox or this silo goes; nothing to do here.
        }
    }

    private Task OnEventAsync(CacheEvent cacheEvent, StreamSequenceToken? token)
    {
        _services.Metrics.StreamMessageReceived();
        if (cacheEvent.Hops is { } hops)
        {
            cacheEvent = cacheEvent with { Hops = hops with { ReadTicks = DateTime.UtcNow.Ticks } };
        }

        if (_tenants.TryGetValue(cacheEvent.Tenant, out var listener))
        {
            listener.Offer(cacheEvent);
        }

        return Task.CompletedTask;
    }

    private void SignalChange() =>
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    [LoggerMessage(EventId = 4200, Level = LogLevel.Warning, Message = "The cluster's stream pub-sub no longer knows this server's subscriptions (its storage lost them): subscribing, registering and recovering every tenant again")]
    private static partial void LogSubscriptionsLost(ILogger logger);

    [LoggerMessage(EventId = 4201, Level = LogLevel.Information, Message = "Many tenants left this server: compacted the heap and gave free memory back ({Tenants} tenants still here, {HeapBytes} bytes in use)")]
    private static partial void LogTrimmed(ILogger logger, int tenants, long heapBytes);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "Tenant {Tenant}: checking the inbox subscription failed")]
    private static partial void LogCheckFailed(ILogger logger, string tenant, Exception exception);
}
