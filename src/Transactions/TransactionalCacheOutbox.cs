namespace CountCachula.Transactions;

/// <summary>
/// A grain's transactional state together with the invalidations its committed writes owe the hub: the state type of
/// an <see cref="Orleans.Transactions.Abstractions.ITransactionalState{TState}"/> written through a
/// <see cref="TransactionalCacheOutboxWriter{TState}"/>. An invalidation is part of the transaction's write, so it is
/// stored if and only if the transaction commits; the writer publishes it once the transaction's root saw the commit.
/// </summary>
/// <typeparam name="TState">The grain's own state.</typeparam>
[GenerateSerializer]
public sealed class TransactionalCacheOutbox<TState>
    where TState : new()
{
    /// <summary>The grain's own state.</summary>
    [Id(0)] public TState State { get; set; } = new();

    /// <summary>How many writes went through the outbox; each write's invalidation is keyed by its version.</summary>
    [Id(1)] public long Version { get; set; }

    /// <summary>
    /// The invalidations of recent committed writes, oldest first: the ones still owed, and the ones published since
    /// (dropped by the grain's next transactional write, which publishes again, as a no-op, what it finds unconfirmed).
    /// </summary>
    [Id(2)] public List<OutboxInvalidation> Invalidations { get; set; } = [];

    /// <summary>Random, chosen by the first write of this state: part of the idempotency keys.</summary>
    [Id(3)] public string? Epoch { get; set; }
}
