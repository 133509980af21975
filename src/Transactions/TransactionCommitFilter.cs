using CountCachula.Grains.Declared;
using Microsoft.Extensions.Logging;
using Orleans.Serialization.Invocation;
using Orleans.Transactions;

namespace CountCachula.Transactions;

/// <summary>
/// Sees every call that starts an Orleans transaction complete. Such a call returns only after the transaction
/// resolved (Orleans commits it inside the call's invocation), so a call that completes without an exception means a
/// commit: then every grain that wrote in the transaction is told, and its <see cref="TransactionalCacheOutboxWriter{TState}"/>s
/// publish what the transaction owes, before the call's response goes back. A call that joined a transaction, or
/// that ends with an exception (an abort, or a commit in doubt), tells no one.
/// </summary>
internal sealed class TransactionCommitFilter(CommitNotifier notifier) : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (OrleansTransactionalCalls.Role(context.Request) != TransactionRole.Root)
        {
            await context.Invoke();
            return;
        }

        await context.Invoke();
        // No exception and still meant to commit: Orleans resolved it to a commit. (A delegate of a nested
        // ITransactionClient.RunTransaction that returned false aborts the transaction without an exception.)
        if (context.Response is not TransactionResponse { TransactionInfo: { TryToCommit: true } transaction } response || response.GetException() is not null)
        {
            return;
        }

        var eventId = await notifier.CommittedAsync(transaction);
        if (CacheInvalidation.CurrentOf(context.TargetId) is { } scope)
        {
            // A declared call: its filter stamps the result once it published the call's own remaining tags.
            scope.OutboxEventId = Math.Max(scope.OutboxEventId, Math.Max(eventId, 0));
            scope.OutboxOwes |= eventId < 0;
        }
        else if (eventId > 0 && context.Result is ICacheWriteResult write && write.EventId < eventId)
        {
            context.Result = write.WithEventId(eventId);
        }
    }
}

/// <summary>Tells every grain that wrote in a committed transaction, so their outbox writers publish what it owes.</summary>
internal sealed partial class CommitNotifier(IGrainFactory grains, ILogger<CommitNotifier> logger)
{
    /// <summary>
    /// Call only for a transaction known to have committed. Returns the highest event id published for it, 0 when
    /// none, -1 when some grain's invalidation is still owed (a client must not take the others' id as its write's).
    /// </summary>
    public async Task<long> CommittedAsync(TransactionInfo transaction)
    {
        var writers = transaction.Participants
            .Where(p => p.Value.Writes > 0 && p.Key.Reference is not null)
            .Select(p => p.Key.Reference.GetGrainId())
            .Distinct()
            .ToArray();
        if (writers.Length == 0)
        {
            return 0;
        }

        var ids = await Task.WhenAll(writers.Select(grain => CommittedAsync(grain, transaction.TransactionId)));
        return ids.Contains(-1) ? -1 : ids.Max();
    }

    private async Task<long> CommittedAsync(GrainId grain, Guid transaction)
    {
        try
        {
            return await grains.GetGrain<ICacheOutboxCommitExtension>(grain).Committed(transaction);
        }
        catch (Exception e)
        {
            // The participant is unreachable now: what it owes is in its committed state, and its next transactional
            // write publishes it.
            LogNotTold(logger, e, grain, transaction);
            return -1;
        }
    }

    [LoggerMessage(EventId = 6000, Level = LogLevel.Warning, Message = "Grain {Grain} was not told that transaction {Transaction} committed; its outbox invalidations wait for its next transactional write.")]
    private static partial void LogNotTold(ILogger logger, Exception exception, GrainId grain, Guid transaction);
}

/// <summary>
/// Orleans' transaction client with commit reporting: a transaction it starts (<c>RunTransaction</c> with
/// <c>Create</c>, or <c>CreateOrJoin</c> outside a transaction) is resolved inside <c>RunTransaction</c>, which returns
/// normally only after a commit (or after the delegate asked for an abort by returning false). Then the grains that
/// wrote in it are told, as the call filter does for a transaction a grain call started.
/// </summary>
internal sealed class CommitReportingTransactionClient(ITransactionClient inner, CommitNotifier notifier) : ITransactionClient
{
    public Task RunTransaction(TransactionOption transactionOption, Func<Task> transactionDelegate) =>
        RunTransaction(transactionOption, transactionDelegate, useExclusiveLock: false);

    public Task RunTransaction(TransactionOption transactionOption, Func<Task<bool>> transactionDelegate) =>
        RunTransaction(transactionOption, transactionDelegate, useExclusiveLock: false);

    public Task RunTransaction(TransactionOption transactionOption, Func<Task> transactionDelegate, bool useExclusiveLock)
    {
        ArgumentNullException.ThrowIfNull(transactionDelegate);
        return RunTransaction(transactionOption, async () =>
        {
            await transactionDelegate();
            return true;
        }, useExclusiveLock);
    }

    public async Task RunTransaction(TransactionOption transactionOption, Func<Task<bool>> transactionDelegate, bool useExclusiveLock)
    {
        ArgumentNullException.ThrowIfNull(transactionDelegate);
        var starts = transactionOption == TransactionOption.Create
            || (transactionOption == TransactionOption.CreateOrJoin && TransactionContext.GetTransactionInfo() is null);
        TransactionInfo? transaction = null;
        var commit = false;
        await inner.RunTransaction(transactionOption, async () =>
        {
            commit = await transactionDelegate();

            // The client's own transaction object: it gathers the participants of every call made in it.
            transaction = TransactionContext.GetTransactionInfo();
            return commit;
        }, useExclusiveLock);

        if (starts && commit && transaction is not null)
        {
            await notifier.CommittedAsync(transaction);
        }
    }
}

/// <summary>Reads Orleans' transactional requests and responses for the declared-invalidation filter.</summary>
internal sealed class OrleansTransactionalCalls : ITransactionalCalls
{
    /// <summary>
    /// A transactional request carries the caller's transaction when it joins one; a call that requires a transaction
    /// and arrives without one starts it (Orleans' <c>TransactionRequestBase.Invoke</c>), and resolves it before it returns.
    /// </summary>
    public static TransactionRole Role(IInvokable request) => request switch
    {
        TransactionRequestBase { TransactionInfo: not null } => TransactionRole.Joined,
        TransactionRequestBase { IsTransactionRequired: true } => TransactionRole.Root,
        _ => TransactionRole.None,
    };

    public TransactionRole RoleOf(IInvokable request) => Role(request);

    public bool Failed(Response? response) => response is TransactionResponse transactional
        ? transactional.GetException() is not null || transactional.TransactionInfo is { TryToCommit: false }
        : response?.Exception is not null;
}
