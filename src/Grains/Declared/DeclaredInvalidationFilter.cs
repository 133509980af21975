using Microsoft.Extensions.Logging;

namespace CountCachula.Grains.Declared;

/// <summary>
/// Publishes the invalidation a grain method declares (<see cref="InvalidatesCacheTagsAttribute"/>) once the call has
/// completed successfully, and before its response goes back: a caller that got the response knows the hub accepted
/// the invalidation (or that publishing failed and was logged). A call that throws publishes nothing.
/// </summary>
/// <remarks>
/// A publish that fails does not fail the call: the grain's state already changed, and failing would make the caller
/// retry a write that succeeded. It is logged as a warning and counted
/// (<c>countcachula.declared.publish.failures</c>). A grain with persistent state closes that gap with
/// <see cref="CacheOutboxWriter{TState}"/> (docs/from-a-grain.md, "The outbox"): a write through it during the
/// call takes the declared tags into the grain's state, and this filter publishes only tags added after that write.
/// <para>
/// In an Orleans transaction (with <c>CountCachula.Transactions</c>), a call's success is not the commit: the call
/// that started the transaction returns after the commit (or the abort), so it publishes as above once it succeeded;
/// a call that joined one leaves its tags to the transactional outbox it wrote them to, which publishes them when the
/// transaction's root saw it commit.
/// </para>
/// </remarks>
internal sealed partial class DeclaredInvalidationFilter(
    DeclaredInvalidations declarations,
    IGrainFactory grains,
    HubMetrics metrics,
    ILogger<DeclaredInvalidationFilter> logger,
    ITransactionalCalls transactions) : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.ImplementationMethod is not { } method || context.Grain is not { } grain || declarations.For(grain.GetType(), method) is not { } plan)
        {
            await context.Invoke();
            return;
        }

        var request = context.Request;
        var target = context.TargetId;
        var role = transactions.RoleOf(request);
        var scope = CacheInvalidation.Begin(target, added => plan.Tags(target, request, added));
        try
        {
            await context.Invoke();
        }
        finally
        {
            CacheInvalidation.End(scope);
        }

        if (transactions.Failed(context.Response))
        {
            return;
        }

        if (role == TransactionRole.None && NoTransactionalCalls.IsTransactional(context.Response))
        {
            // Orleans transactions without CountCachula.Transactions: this response does not say whether the call
            // failed, let alone whether its transaction commits. Publishing could announce an aborted write.
            NotTied(plan, "the silo has no AddCountCachulaTransactions()");
            return;
        }

        string[] tags;
        try
        {
            // An outbox write during the call took the declared tags (and those added before it) into the grain's
            // state: they are its to publish. Only tags added after that write are left for this filter.
            tags = scope.TakenByOutbox
                ? scope.Tags.Count == 0 ? [] : CacheInput.Distinct(scope.Tags)
                : plan.Tags(context.TargetId, context.Request, scope.Tags);
        }
        catch (Exception e)
        {
            Failed(plan, e);
            return;
        }

        if (tags.Length == 0)
        {
            Stamp(context, scope, 0);
            return;
        }

        if (role == TransactionRole.Joined)
        {
            // The transaction may still abort: only a transactional outbox written in it can publish on its commit.
            NotTied(plan, "the call joined a transaction and these tags were not written to a TransactionalCacheOutbox in it");
            return;
        }

        PublishReceipt receipt;
        try
        {
            receipt = await grains.GetGrain<ICacheHubGrain>(plan.Tenant).Publish(CachePublication.Invalidate(tags));
        }
        catch (Exception e)
        {
            Failed(plan, e);
            return;
        }

        Stamp(context, scope, receipt.Sequence);
    }

    /// <summary>
    /// Gives a <see cref="CacheWrite"/> result the highest id the call published (its own, or its outbox write's),
    /// unless an outbox invalidation of the call is still owed: a client reading its write up to that id would
    /// refetch before it.
    /// </summary>
    private static void Stamp(IIncomingGrainCallContext context, CacheInvalidation.Scope scope, long sequence)
    {
        var id = scope.OutboxOwes ? 0 : Math.Max(sequence, scope.OutboxEventId);
        if (id > 0 && context.Result is ICacheWriteResult write && write.EventId < id)
        {
            context.Result = write.WithEventId(id);
        }
    }

    private void Failed(DeclaredInvalidations.Plan plan, Exception e)
    {
        metrics.DeclaredPublishFailed(plan.Tenant);
        LogPublishFailed(logger, e, plan.Grain, plan.Method, plan.Tenant);
    }

    private void NotTied(DeclaredInvalidations.Plan plan, string reason)
    {
        metrics.DeclaredPublishFailed(plan.Tenant);
        LogNotTied(logger, plan.Grain, plan.Method, plan.Tenant, reason);
    }

    [LoggerMessage(EventId = 3041, Level = LogLevel.Error, Message = "The invalidation declared by {Grain}.{Method} in an Orleans transaction was not published to tenant {Tenant}: {Reason} (docs/from-a-grain.md, \"Transactions\").")]
    private static partial void LogNotTied(ILogger logger, string grain, string method, string tenant, string reason);

    [LoggerMessage(EventId = 3040, Level = LogLevel.Warning, Message = "The invalidation declared by {Grain}.{Method} was not published to tenant {Tenant}; the call itself succeeded and browsers keep the stale entries until the next invalidation of those tags.")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, string grain, string method, string tenant);
}

/// <summary>Checks every declared template when the silo starts, so a bad one stops it with a clear message.</summary>
internal sealed class DeclaredInvalidationCheck(DeclaredInvalidations declarations) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(DeclaredInvalidationCheck), ServiceLifecycleStage.First, _ =>
        {
            var problems = declarations.Check();
            return problems.Count == 0
                ? Task.CompletedTask
                : throw new InvalidOperationException(
                    "Count Cachula: declared cache invalidations that cannot bind (fix the attribute, then start again):"
                    + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  " + p)));
        });
}
