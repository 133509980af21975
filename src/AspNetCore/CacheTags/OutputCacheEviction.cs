using System.Collections.Concurrent;
using CountCachula.AspNetCore.Hosting;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Streaming;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Options;

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
public sealed partial class OutputCacheEviction(IServiceProvider services, IOptions<CountCachulaOptions> options, ILogger<OutputCacheEviction> logger)
{
    /// <summary>The most tenants a silo listens to for eviction; responses of further tenants are not stored.</summary>
    public const int MaxTenants = 1000;

    /// <summary>How long delivery waits for a store whose eviction does not finish at once (a remote store).</summary>
    public static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, Listening> _tenants = new(StringComparer.Ordinal);
    private IOutputCacheStore? _store;
    private bool _storeResolved;
    private long _generation;
    private TaskCompletionSource _evicted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Whether eviction is on.</summary>
    public bool Enabled => options.Value.EvictOutputCache;

    /// <summary>The sequence of the newest invalidation of <paramref name="tenant"/> this silo evicted for; 0 for none.</summary>
    public long LastEvicted(string tenant) => _tenants.TryGetValue(tenant, out var t) ? Interlocked.Read(ref t.LastSequence) : 0;

    /// <summary>Completes at the next eviction on this silo: lets tests and diagnostics wait instead of polling.</summary>
    public Task WhenEvicted() => Volatile.Read(ref _evicted).Task;

    /// <summary>Completes once this silo receives every event of <paramref name="tenant"/> (after its first tagged response).</summary>
    public Task WhenListening(string tenant) => Listen(tenant)?.Ready ?? Task.CompletedTask;

    /// <summary>
    /// Evicts the entries of an invalidation's tags, and returns once the store has (the dispatcher queues the
    /// browsers' frames after this). A <c>*</c>, or a tag ending in <c>*</c>, evicts all the tenant's tagged entries.
    /// </summary>
    public void BeforeDispatch(CacheEvent cacheEvent)
    {
        if (cacheEvent.Kind != CacheEventKind.Invalidate || Evict(cacheEvent.Tenant, cacheEvent.Items) is not { } state)
        {
            return;
        }

        foreach (var (tag, eviction) in state.Pending)
        {
            if (!eviction.IsCompletedSuccessfully)
            {
                Wait(eviction, tag);
            }
        }

        // The newest, not the latest: a recovered event can be older than one dispatched before it.
        for (var last = Interlocked.Read(ref state.Listening.LastSequence); cacheEvent.Sequence > last;)
        {
            var seen = Interlocked.CompareExchange(ref state.Listening.LastSequence, cacheEvent.Sequence, last);
            if (seen == last)
            {
                break;
            }

            last = seen;
        }

        Interlocked.Exchange(ref _evicted, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>
    /// Evicts this silo's entries for <paramref name="tags"/> of <paramref name="tenant"/> now. Call it after publishing
    /// an invalidation from a write endpoint: the writer's own next read may reach this silo before the hub's event
    /// does (the event then evicts again, here and on every other silo, before any browser is told).
    /// </summary>
    public async ValueTask EvictAsync(string tenant, params IReadOnlyList<string> tags)
    {
        if (Evict(tenant, tags) is { } state)
        {
            foreach (var (_, eviction) in state.Pending)
            {
                await eviction;
            }
        }
    }

    private (Listening Listening, List<(string Tag, ValueTask Eviction)> Pending)? Evict(string tenant, IReadOnlyList<string> items)
    {
        // A tenant this silo never tagged a response for has nothing here to evict (and must not grow the table).
        if (!Enabled || !_tenants.TryGetValue(tenant, out var state) || Store() is not { } store)
        {
            return null;
        }

        // First the generation, then the eviction: a response made meanwhile sees the change and is not stored.
        Volatile.Write(ref state.Generation, Interlocked.Increment(ref _generation));
        IEnumerable<string> tags = items.Any(t => t.EndsWith('*')) ? [OutputCacheTags.AllOf(tenant)] : items.Select(t => OutputCacheTags.For(tenant, t));
        var pending = new List<(string, ValueTask)>();
        foreach (var tag in tags)
        {
            pending.Add((tag, store.EvictByTagAsync(tag, CancellationToken.None)));
        }

        return (state, pending);
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

        var started = Interlocked.Read(ref _generation);
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

    private Listening? Listen(string tenant)
    {
        if (!Enabled)
        {
            return null;
        }

        if (_tenants.TryGetValue(tenant, out var known) && known.Started)
        {
            return known;
        }

        if (!_tenants.ContainsKey(tenant) && _tenants.Count >= MaxTenants)
        {
            LogTooManyTenants(logger, tenant, MaxTenants);
            return null;
        }

        var state = _tenants.GetOrAdd(tenant, static _ => new Listening());
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

    private async Task ListenAsync(string tenant, Listening state)
    {
        try
        {
            // Held for the silo's lifetime: entries of this tenant may sit in the cache until they expire.
            await services.GetRequiredService<TopicSubscriptions>().AcquireAsync(tenant, [Interest.All], CancellationToken.None);
            state.Complete();
        }
        catch (Exception exception)
        {
            LogListenFailed(logger, tenant, exception);
            lock (state)
            {
                state.Started = false;
                state.Reset();
            }
        }
    }

    private void Wait(ValueTask eviction, string tag)
    {
        // Dispatch is synchronous and ordered: events are queued to browsers only after this returns, so a store that
        // answers later (a remote one) is waited for, up to StoreTimeout; past that the browsers are told anyway,
        // because a browser never told is stale for longer than one served a late-evicted copy.
        try
        {
            if (!eviction.AsTask().Wait(StoreTimeout))
            {
                LogSlowStore(logger, tag, StoreTimeout);
            }
        }
        catch (Exception exception)
        {
            LogEvictFailed(logger, tag, exception);
        }
    }

    private IOutputCacheStore? Store()
    {
        if (!Volatile.Read(ref _storeResolved))
        {
            _store = services.GetService<IOutputCacheStore>();
            Volatile.Write(ref _storeResolved, true);
            if (_store is null)
            {
                LogNoStore(logger);
            }
        }

        return _store;
    }

    /// <summary>One tenant: whether this silo listens to its events, and its last invalidation here.</summary>
    private sealed class Listening
    {
        private TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long LastSequence;

        public bool Started { get; set; }

        public long Generation;

        public Task Ready => Volatile.Read(ref _ready).Task;

        public void Complete() => Volatile.Read(ref _ready).TrySetResult();

        public void Reset() => Volatile.Write(ref _ready, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "CountCachula:EvictOutputCache is on but no IOutputCacheStore is registered (call AddOutputCache): nothing is evicted")]
    private static partial void LogNoStore(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tenant {Tenant}: this silo already listens to {Max} tenants for output-cache eviction; its responses are not stored in the output cache")]
    private static partial void LogTooManyTenants(ILogger logger, string tenant, int max);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tenant {Tenant}: listening for output-cache eviction failed; its responses are not stored until a later attempt succeeds")]
    private static partial void LogListenFailed(ILogger logger, string tenant, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Evicting output-cache tag {Tag} took longer than {Timeout}; browsers were told before it finished")]
    private static partial void LogSlowStore(ILogger logger, string tag, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Error, Message = "Evicting output-cache tag {Tag} failed")]
    private static partial void LogEvictFailed(ILogger logger, string tag, Exception exception);
}
