using CountCachula.Transactions;
using Orleans.Concurrency;
using Orleans.Transactions.Abstractions;

namespace CountCachula.Tests.Transactions;

/// <summary>An account whose balance is transactional state, written with its invalidations (an outbox).</summary>
public interface ITxAccountGrain : IGrainWithStringKey
{
    /// <summary>Declared: its tag goes into the outbox write, published when the transaction commits.</summary>
    [Transaction(TransactionOption.Join)]
    Task Deposit(int amount);

    /// <summary>Writes first, then throws when the balance would go negative: the transaction aborts.</summary>
    [Transaction(TransactionOption.Join)]
    Task Withdraw(int amount);

    [Transaction(TransactionOption.CreateOrJoin), ReadOnly]
    Task<int> Balance();

    /// <summary>Declared, joins, and writes no outbox: its tags cannot be tied to the commit.</summary>
    [Transaction(TransactionOption.Join)]
    Task TouchWithoutOutbox();
}

[GenerateSerializer]
public sealed class TxBalance
{
    [Id(0)] public int Value { get; set; }
}

[CacheTenant(TxTenant.Name)]
public sealed class TxAccountGrain(
    [TransactionalState("balance", TxTenant.Storage)] ITransactionalState<TransactionalCacheOutbox<TxBalance>> state) : Grain, ITxAccountGrain
{
    private TransactionalCacheOutboxWriter<TxBalance> _outbox = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _outbox = new(this, state);
        return Task.CompletedTask;
    }

    [InvalidatesCacheTags("txaccount:{key}")]
    public Task Deposit(int amount) => _outbox.PerformUpdate(b => b.Value += amount);

    public async Task Withdraw(int amount)
    {
        var left = await _outbox.PerformUpdate(b => b.Value -= amount, [$"txaccount:{this.GetPrimaryKeyString()}"]);
        if (left < 0)
        {
            throw new InvalidOperationException($"Insufficient funds: {left + amount} < {amount}.");
        }
    }

    public Task<int> Balance() => _outbox.PerformRead(b => b.Value);

    [InvalidatesCacheTags("txloose:{key}")]
    public Task TouchWithoutOutbox() => Task.CompletedTask;
}

/// <summary>Starts the transactions: its declared tag is published after the commit.</summary>
public interface ITxTransferGrain : IGrainWithStringKey
{
    [Transaction(TransactionOption.Create)]
    Task<CacheWrite> Transfer(string from, string to, int amount);

    /// <summary>Deposits in a nested RunTransaction whose delegate returns false: the whole transaction aborts,
    /// and this call still returns normally.</summary>
    [Transaction(TransactionOption.Create)]
    Task<CacheWrite> DepositThenCancel(string to, int amount);

    [Transaction(TransactionOption.Create)]
    Task<CacheWrite> DepositAndTouch(string to, int amount);
}

[CacheTenant(TxTenant.Name)]
public sealed class TxTransferGrain(ITransactionClient transactions) : Grain, ITxTransferGrain
{
    public async Task<CacheWrite> DepositAndTouch(string to, int amount)
    {
        await GrainFactory.GetGrain<ITxAccountGrain>(to).Deposit(amount);
        await GrainFactory.GetGrain<ITxAccountGrain>(to).TouchWithoutOutbox();
        return CacheWrite.Pending;
    }

    [InvalidatesCacheTags("txtransfer:{key}")]
    public async Task<CacheWrite> DepositThenCancel(string to, int amount)
    {
        await transactions.RunTransaction(TransactionOption.CreateOrJoin, async () =>
        {
            await GrainFactory.GetGrain<ITxAccountGrain>(to).Deposit(amount);
            return false;
        });
        return CacheWrite.Pending;
    }

    [InvalidatesCacheTags("txtransfer:{key}")]
    public async Task<CacheWrite> Transfer(string from, string to, int amount)
    {
        // The deposit first, so an abort has a written participant to roll back.
        await GrainFactory.GetGrain<ITxAccountGrain>(to).Deposit(amount);
        await GrainFactory.GetGrain<ITxAccountGrain>(from).Withdraw(amount);
        return CacheWrite.Pending;
    }
}

/// <summary>
/// Makes the commit report to chosen grains fail a number of times, as if the root's silo died after the commit and
/// before telling them (<c>ICacheOutboxCommitExtension.Committed</c> never arrives).
/// </summary>
public static class LostCommitReports
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> Left = new(StringComparer.Ordinal);

    public static void Lose(string grainKey, int times) => Left[grainKey] = times;

    public static Task Filter(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.DeclaringType == typeof(CountCachula.Transactions.ICacheOutboxCommitExtension)
            && context.TargetId.Key.ToString() is { } key
            && Left.TryGetValue(key, out var left) && left > 0 && Left.TryUpdate(key, left - 1, left))
        {
            throw new InvalidOperationException("Commit report lost by the test.");
        }

        return context.Invoke();
    }
}

public static class TxTenant
{
    public const string Name = "txn-tests";

    public const string Storage = "TransactionStore";
}
