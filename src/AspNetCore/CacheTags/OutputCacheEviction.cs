using System.Collections.Concurrent;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Streaming;
using Microsoft.AspNetCore.OutputCaching;

namespace CountCachula.AspNetCore.CacheTags;

/// <summary>
/// With <see cref="CountCachulaOptions.EvictOutputCache"/> on, makes every invalidation that reaches this silo evict
/// this silo's output-cache entries with those tags (<see cref="OutputCacheTags"/>) before any browser is told, so a
/// browser's refetch is never answered from a stale server copy.
/// </summary>
/// <remarks>
/// A silo only receives a tenant's events while it listens to them. So the first tagged response of a tenant makes the
/// silo listen to all of that tenant's events for good (at most <see cref="MaxTenants"/> tenants), and until it
/// listens, that tenant's responses are served but not stored. A response that was being made while one of its
/// tenant's invalidations arrived is not stored either: it may hold the data the invalidation made stale.
/// </remarks>
public sealed partial class OutputCacheEviction
{
    /// <summary>The most tenants a silo listens to for eviction; responses of further tenants are not stored.</summary>
    public const int MaxTenants = 1000;

    /// <summary>How long delivery waits for a store whose eviction does not finish at once (a remote store).</summary>
    public static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(5);

    private readonly OutputCacheEvictor _evictor;
    private readonly TopicSubscriptions _subscriptions;
    private readonly ILogger<OutputCacheEviction> _logger;

    internal OutputCacheEviction(OutputCacheEvictor evictor, TopicSubscriptions subscriptions, ILogger<OutputCacheEviction> logger)
    {
        _evictor = evictor;
        _subscriptions = subscriptions;
        _logger = logger;
    }

    /// <summary>Whether eviction is on.</summary>
    public bool Enabled => _evictor.Enabled;

    /// <summary>The sequence of the newest invalidation of <paramref name="tenant"/> this silo evicted for; 0 for none.</summary>
    internal long LastEvicted(string tenant) => _evictor.Tenants.TryGetValue(tenant, out var t) ? Interlocked.Read(ref t.LastSequence) : 0;

    /// <summary>Completes at the next eviction on this silo: lets tests and diagnostics wait instead of polling.</summary>
    internal Task WhenEvicted() => _evictor.WhenEvicted();

    /// <summary>Completes once this silo receives every event of <paramref name="tenant"/> (after its first tagged response).</summary>
    internal Task WhenListening(string tenant) => Listen(tenant)?.Ready ?? Task.CompletedTask;

    /// <summary>
    /// Evicts this silo's entries for <paramref name="tags"/> of <paramref name="tenant"/> now. Call it after publishing
    /// an invalidation from a write endpoint: the writer's own next read may reach this silo before the hub's event
    /// does (the event then evicts again, here and on every other silo, before any browser is told).
    /// </summary>
    public async ValueTask EvictAsync(string tenant, params IReadOnlyList<string> tags)
    {
        if (_evictor.Evict(tenant, tags) is { } state)
        {
            foreach (var (_, eviction) in state.Pending)
            {
                await eviction;
            }
        }
    }

    /// <summary>Called for the first tag of <paramref name="tenant"/> on an output-cached response.</summary>
    internal void Track(HttpContext context, OutputCacheContext cache, string tenant)
    {
        if (!Enabled)
        {
            return;
        }

        var listening = Listen(tenant);
        if (listening is null || !listening.Ready.IsCompletedSuccessfully)
        {
            // Not listening yet, or not allowed to: an entry stored now could miss its invalidation.
            cache.AllowCacheStorage = false;
            return;
        }

        var started = _evictor.Generation;
        context.Response.OnStarting(() =>
        {
            // The last moment before the entry is stored that this code sees: if an invalidation of the tenant arrived
            // since the tags were added, the body may hold the data it made stale.
            if (Volatile.Read(ref listening.Generation) > started)
            {
                cache.AllowCacheStorage = false;
            }

            return Task.CompletedTask;
        });
    }

    private OutputCacheEvictor.Listening? Listen(string tenant)
    {
        if (!Enabled)
        {
            return null;
        }

        if (_evictor.Tenants.TryGetValue(tenant, out var known) && known.Started)
        {
            return known;
        }

        if (!_evictor.Tenants.ContainsKey(tenant) && _evictor.Tenants.Count >= MaxTenants)
        {
            LogTooManyTenants(_logger, tenant, MaxTenants);
            return null;
        }

        var state = _evictor.Tenants.GetOrAdd(tenant, static _ => new OutputCacheEvictor.Listening());
        lock (state)
        {
            if (!state.Started)
            {
                state.Started = true;
                _ = ListenAsync(tenant, state);
            }
        }

        return state;
    }

    private async Task ListenAsync(string tenant, OutputCacheEvictor.Listening state)
    {
        try
        {
            // Held for the silo's lifetime: entries of this tenant may sit in the cache until they expire.
            await _subscriptions.AcquireAsync(tenant, [Interest.All], CancellationToken.None);
            state.Complete();
        }
        catch (Exception exception)
        {
            LogListenFailed(_logger, tenant, exception);
            lock (state)
            {
                state.Started = false;
                state.Reset();
            }
        }
    }

    [LoggerMessage(EventId = 4000, Level = LogLevel.Warning, Message = "Tenant {Tenant}: this silo already listens to {Max} tenants for output-cache eviction; its responses are not stored in the output cache")]
    private static partial void LogTooManyTenants(ILogger logger, string tenant, int max);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Tenant {Tenant}: listening for output-cache eviction failed; its responses are not stored until a later attempt succeeds")]
    private static partial void LogListenFailed(ILogger logger, string tenant, Exception exception);
}
