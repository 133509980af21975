using System.Collections.Concurrent;
using CountCachula.AspNetCore.Connections;
using CountCachula.AspNetCore.Hosting;
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
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

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
    }

    /// <summary>This frontend's listener id, as the topic grains know it.</summary>
    public string ListenerId => _services.Identity.Id;

    /// <summary>This frontend's silo (its parsable address), or its listener id when no silo is co-hosted.</summary>
    public string SiloId => _services.Identity.IsSilo ? _services.Identity.Id[CacheListeners.SiloPrefix.Length..] : _services.Identity.Id;

    /// <summary>How many inbox streams this frontend is subscribed to (one per tenant it serves).</summary>
    public int Count => _tenants.Values.Count(t => t.HasInbox);

    /// <summary>How many tenants this frontend keeps state for.</summary>
    public int TenantCount => _tenants.Count;

    /// <summary>Whether this frontend reads <paramref name="tenant"/>'s inbox.</summary>
    public bool IsSubscribedToInbox(string tenant) => _tenants.TryGetValue(tenant, out var t) && t.HasInbox;

    /// <summary>The exact tags of <paramref name="tenant"/> this frontend has registered with the topic grains.</summary>
    public IReadOnlyCollection<string> RegisteredTags(string tenant) => _tenants.TryGetValue(tenant, out var t) ? t.RegisteredTags() : [];

    /// <summary>
    /// Null when every tenant with connections here had its inbox verified within three check intervals, else why not:
    /// this frontend may not be able to deliver.
    /// </summary>
    public string? DeliveryProblem()
    {
        var limit = DateTime.UtcNow - (3 * _options.InboxCheckInterval);
        var stale = _tenants.Values.Where(t => t.HasConnections && t.VerifiedAtUtc < limit).Select(t => t.Tenant).Take(5).ToList();
        return stale.Count == 0 ? null : $"The inbox subscription of tenant(s) {string.Join(", ", stale)} has not been verified since {limit:O}.";
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

    /// <summary>Checks every tenant's inbox, recovering where needed, and forgets tenants idle past the grace period.</summary>
    internal async Task CheckAllAsync(CancellationToken cancellationToken)
    {
        var now = DateTime.UtcNow;
        foreach (var (tenant, listener) in _tenants)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (listener.TryClose(now, _options.UnsubscribeGrace))
            {
                // Evicted first, so an acquire from now on builds a fresh listener; this one only tears down.
                _tenants.TryRemove(new KeyValuePair<string, TenantListener>(tenant, listener));
                await CloseQuietlyAsync(listener);
                continue;
            }

            try
            {
                await listener.CheckAsync();
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                LogCheckFailed(_services.Logger, tenant, exception);
            }
        }
    }

    /// <summary>Recovers every tenant: something happened that may have cost this frontend events or registrations.</summary>
    internal Task RecoverAllAsync(string reason) => Task.WhenAll(_tenants.Values.Select(t => t.RecoverAsync(reason)));

    private async Task AcquireAsync(string tenant, bool connection, Interest[] interests, CancellationToken cancellationToken)
    {
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tenant {Tenant}: checking the inbox subscription failed")]
    private static partial void LogCheckFailed(ILogger logger, string tenant, Exception exception);
}
