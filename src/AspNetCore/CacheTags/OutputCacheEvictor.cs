using System.Collections.Concurrent;
using CountCachula.AspNetCore.Streaming;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.CacheTags;

/// <summary>
/// The eviction itself, told of every event the dispatcher hands out (an <see cref="ICacheEventObserver"/>): evicts an
/// invalidation's tags from this silo's output-cache store before any browser is told, for the tenants this silo tracks
/// (<see cref="OutputCacheEviction"/> adds them, and makes the silo listen to their events).
/// </summary>
internal sealed partial class OutputCacheEvictor(IServiceProvider services, IOptions<CountCachulaOptions> options, ILogger<OutputCacheEviction> logger) : ICacheEventObserver
{
    private readonly ConcurrentDictionary<string, Listening> _tenants = new(StringComparer.Ordinal);
    private IOutputCacheStore? _store;
    private bool _storeResolved;
    private long _generation;
    private TaskCompletionSource _evicted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Whether eviction is on.</summary>
    public bool Enabled => options.Value.EvictOutputCache;

    /// <summary>The tenants tracked, with their state: only these are evicted for.</summary>
    public ConcurrentDictionary<string, Listening> Tenants => _tenants;

    /// <summary>The current eviction generation: a response made while it changed may hold stale data.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>Completes at the next eviction on this silo.</summary>
    public Task WhenEvicted() => Volatile.Read(ref _evicted).Task;

    /// <summary>
    /// Evicts the entries of an invalidation's tags; the returned task completes once the store has (the browsers'
    /// frames are queued after it). A <c>*</c>, or a tag ending in <c>*</c>, evicts all the tenant's tagged entries.
    /// </summary>
    public ValueTask BeforeDispatch(CacheEvent cacheEvent)
    {
        if (cacheEvent.Kind != CacheEventKind.Invalidate || Evict(cacheEvent.Tenant, cacheEvent.Items) is not { } state)
        {
            return ValueTask.CompletedTask;
        }

        List<Task>? waiting = null;
        foreach (var (tag, eviction) in state.Pending)
        {
            if (!eviction.IsCompletedSuccessfully)
            {
                (waiting ??= []).Add(WaitAsync(eviction, tag));
            }
        }

        if (waiting is null)
        {
            Evicted(cacheEvent, state.Listening);
            return ValueTask.CompletedTask;
        }

        return new ValueTask(EvictedAsync(cacheEvent, state.Listening, waiting));
    }

    private async Task EvictedAsync(CacheEvent cacheEvent, Listening listening, List<Task> waiting)
    {
        await Task.WhenAll(waiting).ConfigureAwait(false);
        Evicted(cacheEvent, listening);
    }

    private void Evicted(CacheEvent cacheEvent, Listening listening)
    {
        // The newest, not the latest: a recovered event can be older than one dispatched before it.
        for (var last = Interlocked.Read(ref listening.LastSequence); cacheEvent.Sequence > last;)
        {
            var seen = Interlocked.CompareExchange(ref listening.LastSequence, cacheEvent.Sequence, last);
            if (seen == last)
            {
                break;
            }

            last = seen;
        }

        Interlocked.Exchange(ref _evicted, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <inheritdoc />
    public void AfterDispatch(CacheEvent cacheEvent, int delivered)
    {
    }

    public (Listening Listening, List<(string Tag, ValueTask Eviction)> Pending)? Evict(string tenant, IReadOnlyList<string> items)
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

    private async Task WaitAsync(ValueTask eviction, string tag)
    {
        // A store that answers later (a remote one) is waited for, up to StoreTimeout, while the tenant's events wait
        // behind it; past that the browsers are told anyway, because a browser never told is stale for longer than one
        // served a late-evicted copy.
        try
        {
            await eviction.AsTask().WaitAsync(OutputCacheEviction.StoreTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogSlowStore(logger, tag, OutputCacheEviction.StoreTimeout);
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
    internal sealed class Listening
    {
        private TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long LastSequence;

        public bool Started { get; set; }

        public long Generation;

        public Task Ready => Volatile.Read(ref _ready).Task;

        public void Complete() => Volatile.Read(ref _ready).TrySetResult();

        public void Reset() => Volatile.Write(ref _ready, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    [LoggerMessage(EventId = 4220, Level = LogLevel.Warning, Message = "CountCachula:EvictOutputCache is on but no IOutputCacheStore is registered (call AddOutputCache): nothing is evicted")]
    private static partial void LogNoStore(ILogger logger);

    [LoggerMessage(EventId = 4221, Level = LogLevel.Warning, Message = "Evicting output-cache tag {Tag} took longer than {Timeout}; browsers were told before it finished")]
    private static partial void LogSlowStore(ILogger logger, string tag, TimeSpan timeout);

    [LoggerMessage(EventId = 4222, Level = LogLevel.Error, Message = "Evicting output-cache tag {Tag} failed")]
    private static partial void LogEvictFailed(ILogger logger, string tag, Exception exception);
}
