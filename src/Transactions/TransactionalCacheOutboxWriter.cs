using System.Reflection;
using System.Security.Cryptography;
using CountCachula.Transactions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Transactions;
using Orleans.Transactions.Abstractions;

namespace CountCachula.Transactions;

/// <summary>
/// Writes a grain's <see cref="TransactionalCacheOutbox{TState}"/> inside Orleans transactions and publishes the
/// invalidations of a transaction's writes after it committed, never when it aborted. Needs
/// <c>ISiloBuilder.AddCountCachulaTransactions()</c> on every silo.
/// </summary>
/// <typeparam name="TState">The grain's own state.</typeparam>
/// <example>
/// <code>
/// public sealed class AccountGrain(
///     [TransactionalState("account", "TransactionStore")] ITransactionalState&lt;TransactionalCacheOutbox&lt;Balance&gt;&gt; state) : Grain, IAccountGrain
/// {
///     private TransactionalCacheOutboxWriter&lt;Balance&gt; _outbox = null!;
///
///     public override Task OnActivateAsync(CancellationToken cancellationToken)
///     {
///         _outbox = new(this, state);
///         return Task.CompletedTask;
///     }
///
///     // [Transaction(TransactionOption.Join)] on the interface method.
///     public Task Withdraw(int amount) =>
///         _outbox.PerformUpdate(b => b.Value -= amount, [$"account:{this.GetPrimaryKeyString()}"]);
/// }
/// </code>
/// </example>
/// <remarks>
/// How it learns of the commit: the call that started the transaction (a grain method with
/// <c>[Transaction(Create)]</c> or <c>CreateOrJoin</c>) returns only after the transaction resolved; when it
/// succeeded, a call filter tells every grain that wrote in it, and their writers publish, before that call's
/// response goes back. A transaction that aborts leaves nothing: its writes, the outbox's among them, are discarded.
/// Use it from the grain's own turns, as the transactional state itself.
/// </remarks>
public sealed partial class TransactionalCacheOutboxWriter<TState> : ITransactionalOutbox
    where TState : new()
{
    private readonly IGrainBase _grain;
    private readonly ITransactionalState<TransactionalCacheOutbox<TState>> _state;
    private readonly IGrainFactory _grains;
    private readonly ILogger _logger;

    // Written in transactions that have not been reported committed yet, by transaction.
    private readonly Dictionary<Guid, List<OutboxInvalidation>> _pending = [];

    // Committed and not yet accepted by the hub, in the order of their writes.
    private readonly List<OutboxInvalidation> _owed = [];

    // Accepted by the hub (dropped from the state by the next write).
    private readonly HashSet<string> _published = new(StringComparer.Ordinal);
    private IGrainTimer? _retry;

    /// <summary>Creates the writer of <paramref name="grain"/>'s <paramref name="state"/>; create it in <c>OnActivateAsync</c>.</summary>
    /// <param name="grain">The grain that owns the state (its id keys the invalidations; its timer retries them).</param>
    /// <param name="state">The grain's transactional state.</param>
    /// <param name="tenant">The tenant whose hub receives the invalidations; by default the grain class's
    /// <see cref="CacheTenantAttribute"/>, else <see cref="CacheTenant.Default"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="tenant"/> is not a valid tenant id.</exception>
    /// <exception cref="InvalidOperationException">The silo has no <c>AddCountCachulaTransactions()</c>.</exception>
    public TransactionalCacheOutboxWriter(IGrainBase grain, ITransactionalState<TransactionalCacheOutbox<TState>> state, string? tenant = null)
    {
        ArgumentNullException.ThrowIfNull(grain);
        ArgumentNullException.ThrowIfNull(state);
        tenant ??= grain.GetType().GetCustomAttribute<CacheTenantAttribute>(inherit: true)?.Tenant ?? CacheTenant.Default;
        if (CacheTenant.Validate(tenant) is { } bad)
        {
            throw new ArgumentException(bad, nameof(tenant));
        }

        var services = grain.GrainContext.ActivationServices;
        if (services.GetService<TransactionCommitFilter>() is null || services.GetService<ITransactionClient>() is not CommitReportingTransactionClient)
        {
            // Without them nothing would report a commit, and every invalidation would wait for the grain's next write.
            throw new InvalidOperationException(
                "TransactionalCacheOutboxWriter needs ISiloBuilder.AddCountCachulaTransactions() on every silo, after any UseTransactions().");
        }

        _grain = grain;
        _state = state;
        Tenant = tenant;
        _grains = services.GetRequiredService<IGrainFactory>();
        _logger = services.GetService<ILoggerFactory>()?.CreateLogger("CountCachula.Transactions.TransactionalCacheOutbox") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        TransactionalOutboxes.Register(grain.GrainContext, this);
    }

    /// <summary>The tenant whose hub receives the invalidations.</summary>
    public string Tenant { get; }

    /// <summary>How long to wait before publishing again what the hub did not take; 5 seconds unless set.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Committed invalidations this activation knows are not yet accepted by the hub.</summary>
    public int Owed => _owed.Count;

    /// <summary>Reads the grain's own state in the current transaction.</summary>
    public Task<TResult> PerformRead<TResult>(Func<TState, TResult> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        return _state.PerformRead(box => read(box.State));
    }

    /// <summary>
    /// Updates the grain's own state in the current transaction, with one invalidation of <paramref name="tags"/> in
    /// the same write. It is published after the transaction committed and never if it aborts.
    /// </summary>
    /// <param name="update">Changes the state; what it returns is returned.</param>
    /// <param name="tags">The tags the write makes stale. Inside a call of a method marked
    /// <see cref="InvalidatesCacheTagsAttribute"/>, the call's declared tags and those added so far go into the same
    /// invalidation.</param>
    /// <exception cref="ArgumentException">A tag breaks the rules of <see cref="CacheInput"/> (nothing was written).</exception>
    /// <exception cref="OrleansTransactionException">Not inside a transaction.</exception>
    public async Task<TResult> PerformUpdate<TResult>(Func<TState, TResult> update, IReadOnlyList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(tags);
        var transaction = TransactionContext.GetRequiredTransactionInfo().TransactionId;
        CacheInvalidation.TakeForOutbox(_grain.GrainContext.GrainId, out var declaredTags);
        if (declaredTags.Length > 0)
        {
            tags = [.. declaredTags, .. tags];
        }

        if (tags.Count > 0)
        {
            CacheInput.ThrowIfInvalid(tags, nameof(tags));
        }

        return await _state.PerformUpdate(box =>
        {
            var result = update(box.State);
            Forget(box);
            box.Invalidations.RemoveAll(o => _published.Contains(o.IdempotencyKey));
            box.Epoch ??= Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
            box.Version++;

            // Everything the state holds that is not known to be published goes out with this transaction's commit:
            // what an earlier activation left owed (its silo died after the commit and before the publish), what a
            // commit in doubt or a lost commit report left pending here, and (harmlessly) what an earlier transaction
            // of this grain is still committing: whichever report comes first publishes it, the other skips it.
            var owes = box.Invalidations.Where(o => !_published.Contains(o.IdempotencyKey) && !_owed.Any(p => p.IdempotencyKey == o.IdempotencyKey)).ToList();
            if (tags.Count > 0)
            {
                var written = new OutboxInvalidation
                {
                    Tenant = Tenant,
                    Tags = CacheInput.Distinct(tags),
                    Version = box.Version,
                    IdempotencyKey = CacheOutboxWriter<TState>.Key(_grain.GrainContext.GrainId, box.Epoch, box.Version),
                };
                box.Invalidations.Add(written);
                owes.Add(written);
            }

            if (owes.Count > 0)
            {
                if (!_pending.TryGetValue(transaction, out var list))
                {
                    _pending[transaction] = list = [];
                }

                list.AddRange(owes.Where(o => !list.Any(p => p.IdempotencyKey == o.IdempotencyKey)));
            }

            return result;
        });
    }

    /// <summary>As <see cref="PerformUpdate{TResult}(Func{TState, TResult}, IReadOnlyList{string})"/>, returning nothing.</summary>
    public Task PerformUpdate(Action<TState> update, IReadOnlyList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(update);
        return PerformUpdate(state =>
        {
            update(state);
            return true;
        }, tags);
    }

    /// <summary>
    /// As <see cref="PerformUpdate(Action{TState}, IReadOnlyList{string})"/> with the declared tags of the current call
    /// (<see cref="InvalidatesCacheTagsAttribute"/>, and those added so far with <see cref="CacheInvalidation.Add"/>).
    /// </summary>
    public Task PerformUpdate(Action<TState> update) => PerformUpdate(update, []);

    async Task<(long EventId, bool Owed)> ITransactionalOutbox.CommittedAsync(Guid transactionId)
    {
        if (!_pending.Remove(transactionId, out var committed))
        {
            return (0, false);
        }

        var keys = committed.Select(o => o.IdempotencyKey).ToHashSet(StringComparer.Ordinal);
        _owed.AddRange(committed.Where(o => !_published.Contains(o.IdempotencyKey) && !_owed.Any(p => p.IdempotencyKey == o.IdempotencyKey)));
        var receipts = await DeliverAsync();
        var eventId = receipts.Where(r => keys.Contains(r.Key)).Select(r => r.Value).DefaultIfEmpty(0).Max();
        return (eventId, _owed.Any(o => keys.Contains(o.IdempotencyKey)));
    }

    /// <summary>
    /// Drops what the state <paramref name="box"/> shows can never be committed: a pending invalidation of a version it
    /// already reached without holding it belonged to a transaction that aborted. Keys published long ago go too.
    /// </summary>
    private void Forget(TransactionalCacheOutbox<TState> box)
    {
        var stored = box.Invalidations.Select(o => o.IdempotencyKey).ToHashSet(StringComparer.Ordinal);
        foreach (var (transaction, list) in _pending.ToArray())
        {
            list.RemoveAll(o => o.Version <= box.Version && !stored.Contains(o.IdempotencyKey));
            if (list.Count == 0)
            {
                _pending.Remove(transaction);
            }
        }

        _published.RemoveWhere(key => !stored.Contains(key));
    }

    private async Task<Dictionary<string, long>> DeliverAsync()
    {
        var receipts = new Dictionary<string, long>(StringComparer.Ordinal);
        while (_owed.Count > 0)
        {
            var owed = _owed[0];
            try
            {
                var receipt = await _grains.GetGrain<ICacheHubGrain>(owed.Tenant)
                    .Publish(CachePublication.Invalidate(owed.Tags, owed.IdempotencyKey));
                receipts[owed.IdempotencyKey] = receipt.Sequence;
            }
            catch (Exception e) when (e is ArgumentException or IdempotencyKeyReusedException)
            {
                // Refused for good: repeating cannot help.
                LogDropped(_logger, e, owed.IdempotencyKey, owed.Tenant);
            }
            catch (Exception e)
            {
                // Unreachable or unavailable: keep it (and everything after it, in order) for the retry timer.
                LogRetrying(_logger, e, owed.IdempotencyKey, owed.Tenant, RetryInterval);
                ScheduleRetry();
                return receipts;
            }

            _published.Add(owed.IdempotencyKey);
            _owed.Remove(owed);
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

    [LoggerMessage(EventId = 6020, Level = LogLevel.Warning, Message = "The committed outbox invalidation {Key} was not published to tenant {Tenant}; retrying in {Interval} (and with the grain's next transactional write).")]
    private static partial void LogRetrying(ILogger logger, Exception exception, string key, string tenant, TimeSpan interval);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Error, Message = "The hub of tenant {Tenant} refuses the outbox invalidation {Key} for good; it is dropped.")]
    private static partial void LogDropped(ILogger logger, Exception exception, string key, string tenant);
}
