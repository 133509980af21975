namespace CountCachula.Grains.Declared;

/// <summary>How a grain call relates to an Orleans transaction, for its declared invalidation.</summary>
internal enum TransactionRole
{
    /// <summary>Not part of a transaction: the call's own success decides.</summary>
    None,

    /// <summary>The call started the transaction: it completes only after the transaction committed or aborted.</summary>
    Root,

    /// <summary>The call joined a transaction started elsewhere: its success says nothing about the commit.</summary>
    Joined,
}

/// <summary>
/// What the declared-invalidation filter needs to know about Orleans transactions, which this package does not
/// reference: <c>CountCachula.Transactions</c> (<c>AddCountCachulaTransactions()</c>) registers the implementation that
/// reads Orleans' transactional requests and responses. Without it, <see cref="NoTransactionalCalls"/> recognises a
/// transactional response by its type only, so such a call publishes nothing instead of publishing on an abort.
/// </summary>
internal interface ITransactionalCalls
{
    /// <summary>The role of the call of <paramref name="request"/>, read before it runs.</summary>
    TransactionRole RoleOf(Orleans.Serialization.Invocation.IInvokable request);

    /// <summary>
    /// Whether the call failed: it ended with an exception or, in a transaction, the transaction is not to commit. An
    /// Orleans transactional response reports no exception through
    /// <see cref="Orleans.Serialization.Invocation.Response.Exception"/> (it hands it to the caller's transaction
    /// first), and a transaction can abort without one, so the implementation reads the response itself.
    /// </summary>
    bool Failed(Orleans.Serialization.Invocation.Response? response);
}

/// <summary>The silo without <c>CountCachula.Transactions</c>: no call is treated as transactional.</summary>
internal sealed class NoTransactionalCalls : ITransactionalCalls
{
    public TransactionRole RoleOf(Orleans.Serialization.Invocation.IInvokable request) => TransactionRole.None;

    public bool Failed(Orleans.Serialization.Invocation.Response? response) => response?.Exception is not null;

    /// <summary>
    /// True for Orleans' transactional response (<c>Orleans.TransactionResponse</c>), which hides the call's exception:
    /// without the transactions package its call's tags cannot be tied to the commit, so they are not published.
    /// </summary>
    public static bool IsTransactional(Orleans.Serialization.Invocation.Response? response) =>
        response?.GetType().FullName == "Orleans.TransactionResponse";
}
