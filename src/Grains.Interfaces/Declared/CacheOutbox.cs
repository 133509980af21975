using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CountCachula;

/// <summary>
/// A grain's persistent state together with the invalidations its writes still owe the hub (an outbox): one
/// <c>WriteStateAsync</c> stores both, so a silo that dies after the write and before the publish leaves the
/// invalidation in storage, and the grain's next activation publishes it. Use it as the type of an
/// <see cref="IPersistentState{TState}"/> and write through a <see cref="CacheOutboxWriter{TState}"/>.
/// </summary>
/// <typeparam name="TState">The grain's own state.</typeparam>
/// <remarks>
/// Public settable members, so every grain storage serializer (the Orleans one or JSON) can store it.
/// </remarks>
[GenerateSerializer]
public sealed class CacheOutbox<TState>
    where TState : new()
{
    /// <summary>The grain's own state.</summary>
    [Id(0)] public TState State { get; set; } = new();

    /// <summary>How many writes went through the outbox; each write's invalidation is keyed by its version.</summary>
    [Id(1)] public long Version { get; set; }

    /// <summary>
    /// The invalidations of recent writes, oldest first: the ones still owed, and the ones already published since
    /// the last write (dropped by the next write; published again, as a no-op, if the grain reactivates before that).
    /// </summary>
    [Id(2)] public List<OutboxInvalidation> Invalidations { get; set; } = [];

    /// <summary>
    /// Random, chosen by the first write of this state (and again after <c>ClearStateAsync</c>, which starts the
    /// versions over): part of the idempotency keys, so a cleared state never reuses the key of an earlier write.
    /// </summary>
    [Id(3)] public string? Epoch { get; set; }
}

/// <summary>One write's invalidation, kept in a <see cref="CacheOutbox{TState}"/> until the write after it.</summary>
[GenerateSerializer]
public sealed class OutboxInvalidation
{
    /// <summary>The tenant whose hub receives it.</summary>
    [Id(0)] public string Tenant { get; set; } = CacheTenant.Default;

    /// <summary>The tags to invalidate.</summary>
    [Id(1)] public string[] Tags { get; set; } = [];

    /// <summary>The write's version (<see cref="CacheOutbox{TState}.Version"/> after it).</summary>
    [Id(2)] public long Version { get; set; }

    /// <summary>The idempotency key every publish of it carries: <c>outbox:{grainId}:{epoch}:{version}</c>.</summary>
    [Id(3)] public string IdempotencyKey { get; set; } = "";
}

/// <summary>
/// Writes a grain's <see cref="CacheOutbox{TState}"/> and publishes the invalidations it owes: after the write, on
/// activation (<see cref="ActivateAsync"/>), and from a grain timer while the hub cannot be reached. Every publish of
/// one write's invalidation carries the same idempotency key, so within the hub's idempotency window browsers hear of
/// it exactly once however often it is repeated.
/// </summary>
/// <typeparam name="TState">The grain's own state.</typeparam>
/// <example>
/// <code>
/// public sealed class OrderGrain([PersistentState("order")] IPersistentState&lt;CacheOutbox&lt;Order&gt;&gt; storage) : Grain, IOrderGrain
/// {
///     private CacheOutboxWriter&lt;Order&gt; _outbox = null!;
///
///     public override Task OnActivateAsync(CancellationToken cancellationToken)
///     {
///         _outbox = new(this, storage);
///         return _outbox.ActivateAsync();
///     }
///
///     public Task&lt;CacheWrite&gt; Ship()
///     {
///         _outbox.State.Shipped = true;
///         return _outbox.WriteStateAsync([$"order:{this.GetPrimaryKeyString()}", "orders-list"]);
///     }
/// }
/// </code>
/// </example>
/// <remarks>
/// Use it from the grain's own turns (methods, <c>OnActivateAsync</c>), as any grain state: it is not thread-safe,
/// and a <c>[Reentrant]</c> grain must not interleave two of its writes.
/// </remarks>
public sealed partial class CacheOutboxWriter<TState>
    where TState : new()
{
    private readonly IGrainBase _grain;
    private readonly IPersistentState<CacheOutbox<TState>> _storage;
    private readonly IGrainFactory _grains;
    private readonly ILogger _logger;
    private readonly HashSet<string> _published = new(StringComparer.Ordinal);
    private IGrainTimer? _retry;

    /// <summary>Creates the writer of <paramref name="grain"/>'s <paramref name="storage"/>; create it in <c>OnActivateAsync</c>.</summary>
    /// <param name="grain">The grain that owns the state (its id keys the invalidations; its timer retries them).</param>
    /// <param name="storage">The grain's persistent state.</param>
    /// <param name="tenant">The tenant whose hub receives the invalidations; by default the grain class's
    /// <see cref="CacheTenantAttribute"/>, else <see cref="CacheTenant.Default"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="tenant"/> is not a valid tenant id.</exception>
    public CacheOutboxWriter(IGrainBase grain, IPersistentState<CacheOutbox<TState>> storage, string? tenant = null)
    {
        ArgumentNullException.ThrowIfNull(grain);
        ArgumentNullException.ThrowIfNull(storage);
        tenant ??= grain.GetType().GetCustomAttribute<CacheTenantAttribute>(inherit: true)?.Tenant ?? CacheTenant.Default;
        if (CacheTenant.Validate(tenant) is { } bad)
        {
            throw new ArgumentException(bad, nameof(tenant));
        }

        _grain = grain;
        _storage = storage;
        Tenant = tenant;
        var services = grain.GrainContext.ActivationServices;
        _grains = services.GetRequiredService<IGrainFactory>();
        _logger = services.GetService<ILoggerFactory>()?.CreateLogger("CountCachula.CacheOutbox") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    /// <summary>The tenant whose hub receives the invalidations.</summary>
    public string Tenant { get; }

    /// <summary>How long to wait before publishing again what the hub did not take; 5 seconds unless set.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The grain's own state (the stored <see cref="CacheOutbox{TState}.State"/>).</summary>
    public TState State => _storage.State.State;

    /// <summary>The invalidations stored but not yet known to be published.</summary>
    public IReadOnlyList<OutboxInvalidation> Owed => [.. _storage.State.Invalidations.Where(o => !_published.Contains(o.IdempotencyKey))];

    /// <summary>
    /// Publishes what the stored state still owes (a write whose publish failed, or whose silo died before it). Call
    /// it from <c>OnActivateAsync</c>. It does not fail the activation: while the hub cannot be reached, a grain timer
    /// retries (and keeps the grain active until it succeeds).
    /// </summary>
    public Task ActivateAsync() => DeliverAsync();

    /// <summary>
    /// Writes the state with one invalidation of <paramref name="tags"/> in the same storage write, then publishes it.
    /// A publish that fails does not fail the call (the state is written): a grain timer retries it.
    /// </summary>
    /// <param name="tags">The tags the write makes stale; none writes the state only. Inside a call of a method marked
    /// <see cref="InvalidatesCacheTagsAttribute"/>, the call's declared tags and those added so far go into the same
    /// invalidation (the call filter then publishes only tags added after the write).</param>
    /// <returns>The invalidation's event id (its SSE id in the tenant; a keyed publish is sequenced at once even in a
    /// debounced tenant), or 0 when none was published yet.</returns>
    /// <exception cref="ArgumentException">A tag breaks the rules of <see cref="CacheInput"/> (nothing was written).</exception>
    /// <remarks>
    /// When the storage write throws, the invalidation stays owed in memory and is stored and published with the
    /// next write that succeeds: if the failed write did land, it is delivered after all; if it did not, a spurious
    /// invalidation is harmless.
    /// </remarks>
    public async Task<CacheWrite> WriteStateAsync(IReadOnlyList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var declared = CacheInvalidation.TakeForOutbox(_grain.GrainContext.GrainId, out var declaredTags);
        if (declaredTags.Length > 0)
        {
            tags = [.. declaredTags, .. tags];
        }

        if (tags.Count > 0)
        {
            // All of them at once (their count is limited too), before anything is written.
            CacheInput.ThrowIfInvalid(tags, nameof(tags));
        }

        var box = _storage.State;
        box.Invalidations.RemoveAll(o => _published.Remove(o.IdempotencyKey));
        box.Epoch ??= Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        box.Version++;
        string? key = null;
        if (tags.Count > 0)
        {
            key = Key(_grain.GrainContext.GrainId, box.Epoch, box.Version);
            box.Invalidations.Add(new OutboxInvalidation { Tenant = Tenant, Tags = CacheInput.Distinct(tags), Version = box.Version, IdempotencyKey = key });
        }

        await _storage.WriteStateAsync();
        var receipts = await DeliverAsync();
        var eventId = key is not null && receipts.TryGetValue(key, out var sequence) ? sequence : 0;
        if (declared is not null)
        {
            declared.OutboxEventId = Math.Max(declared.OutboxEventId, eventId);
            declared.OutboxOwes |= key is not null && eventId == 0;
        }

        return new CacheWrite(eventId);
    }

    /// <summary>
    /// Writes the state; inside a call of a method marked <see cref="InvalidatesCacheTagsAttribute"/>, with the
    /// call's declared tags (and those added so far with <see cref="CacheInvalidation.Add"/>) as its invalidation.
    /// </summary>
    /// <returns>As <see cref="WriteStateAsync(IReadOnlyList{string})"/>; the call filter also stamps the id on the
    /// method's <see cref="CacheWrite"/> result.</returns>
    public Task<CacheWrite> WriteStateAsync() => WriteStateAsync([]);

    /// <summary>The idempotency key of a grain's write: <c>outbox:{grainId}:{epoch}:{version}</c>, or a hash of the
    /// grain id in its place when that is not a valid key (too long, or not printable ASCII).</summary>
    internal static string Key(GrainId grain, string epoch, long version)
    {
        var key = $"outbox:{grain}:{epoch}:{version}";
        if (IdempotencyKeys.Check(key) is null)
        {
            return key;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(grain.ToString())));
        return $"outbox:{hash}:{epoch}:{version}";
    }

    private async Task<Dictionary<string, long>> DeliverAsync()
    {
        var receipts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var owed in _storage.State.Invalidations.ToArray())
        {
            if (_published.Contains(owed.IdempotencyKey))
            {
                continue;
            }

            try
            {
                var receipt = await _grains.GetGrain<ICacheHubGrain>(owed.Tenant)
                    .Publish(CachePublication.Invalidate(owed.Tags, owed.IdempotencyKey));
                receipts[owed.IdempotencyKey] = receipt.Sequence;
                _published.Add(owed.IdempotencyKey);
            }
            catch (Exception e) when (e is ArgumentException or IdempotencyKeyReusedException)
            {
                // Repeating cannot help: the hub refuses this publication for good (the state was cleared and its
                // version reused within the window, or the tenant went away). Drop it rather than retry forever.
                LogDropped(_logger, e, owed.IdempotencyKey, owed.Tenant);
                _published.Add(owed.IdempotencyKey);
            }
            catch (Exception e)
            {
                // Unreachable or unavailable: keep it (and everything after it, in order) for the retry timer.
                LogRetrying(_logger, e, owed.IdempotencyKey, owed.Tenant, RetryInterval);
                ScheduleRetry();
                return receipts;
            }
        }

        _retry?.Dispose();
        _retry = null;
        return receipts;
    }

    private void ScheduleRetry()
    {
        if (_retry is not null)
        {
            return;
        }

        _retry = _grain.RegisterGrainTimer(
            static (writer, _) => writer.DeliverAsync(),
            this,
            new GrainTimerCreationOptions { DueTime = RetryInterval, Period = RetryInterval, Interleave = false, KeepAlive = true });
    }

    [LoggerMessage(EventId = 1000, Level = LogLevel.Warning, Message = "The outbox invalidation {Key} was not published to tenant {Tenant}; retrying in {Interval} (and on the grain's next activation).")]
    private static partial void LogRetrying(ILogger logger, Exception exception, string key, string tenant, TimeSpan interval);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Error, Message = "The hub of tenant {Tenant} refuses the outbox invalidation {Key} for good; it is dropped.")]
    private static partial void LogDropped(ILogger logger, Exception exception, string key, string tenant);
}
