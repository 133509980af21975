using Orleans.Concurrency;

namespace CountCachula.Transactions;

/// <summary>
/// Installed on every grain of a silo with <c>AddCountCachulaTransactions()</c>: the root of a committed transaction
/// tells each grain that wrote in it, and the grain's <see cref="TransactionalCacheOutboxWriter{TState}"/>s publish
/// what that transaction's writes owe. A grain without one answers 0 and does nothing.
/// </summary>
internal interface ICacheOutboxCommitExtension : IGrainExtension
{
    /// <summary>Transaction <paramref name="transactionId"/> committed; returns the highest event id published for it
    /// (0: nothing to publish; -1: a publish failed and is retried).</summary>
    /// <remarks>Interleaved: the root is often this very grain, still inside the call that started the transaction.</remarks>
    [AlwaysInterleave]
    Task<long> Committed(Guid transactionId);
}

internal sealed class CacheOutboxCommitExtension(IGrainContextAccessor context) : ICacheOutboxCommitExtension
{
    private readonly IGrainContext _grain = context.GrainContext;

    public Task<long> Committed(Guid transactionId) =>
        _grain.GetComponent<TransactionalOutboxes>() is { } outboxes ? outboxes.CommittedAsync(transactionId) : Task.FromResult(0L);
}

/// <summary>The transactional outbox writers of one grain activation (a component of its grain context).</summary>
internal sealed class TransactionalOutboxes
{
    private readonly List<ITransactionalOutbox> _writers = [];

    public static void Register(IGrainContext grain, ITransactionalOutbox writer)
    {
        var outboxes = grain.GetComponent<TransactionalOutboxes>();
        if (outboxes is null)
        {
            outboxes = new TransactionalOutboxes();
            grain.SetComponent(outboxes);
        }

        outboxes._writers.Add(writer);
    }

    public async Task<long> CommittedAsync(Guid transactionId)
    {
        var max = 0L;
        var owes = false;
        foreach (var writer in _writers)
        {
            var (eventId, owed) = await writer.CommittedAsync(transactionId);
            max = Math.Max(max, eventId);
            owes |= owed;
        }

        // A client waiting for the highest id would refetch before an invalidation that is still owed.
        return owes ? -1 : max;
    }
}

/// <summary>What <see cref="TransactionalOutboxes"/> needs of a writer, whatever its state type.</summary>
internal interface ITransactionalOutbox
{
    /// <summary>Publishes what <paramref name="transactionId"/>'s writes owe; the highest event id, and whether
    /// anything stays owed.</summary>
    Task<(long EventId, bool Owed)> CommittedAsync(Guid transactionId);
}
