using CountCachula.Grains.Declared;
using CountCachula.Transactions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

// Extension methods live in the namespace of the type they extend, as Orleans' own do.
namespace Orleans.Hosting;

/// <summary>Count Cachula for grains that use Orleans transactions.</summary>
public static class CountCachulaTransactionsExtensions
{
    /// <summary>
    /// Publishes the invalidations of grains that use Orleans transactions if and only if the transaction commits:
    /// a declared method (<see cref="CountCachula.InvalidatesCacheTagsAttribute"/>) that starts a transaction publishes
    /// after it committed, and a <see cref="CountCachula.Transactions.TransactionalCacheOutboxWriter{TState}"/> publishes what a
    /// transaction wrote once its root saw it commit. Call it on every silo, with <c>UseTransactions()</c> and
    /// <c>AddCountCachula()</c> (in any order); it calls <c>UseTransactions()</c> when that was not called before.
    /// A transaction started with <see cref="ITransactionClient.RunTransaction(TransactionOption, Func{Task})"/> on the
    /// silo is reported too: the silo's <see cref="ITransactionClient"/> is wrapped (so do not call
    /// <c>UseTransactions()</c> again after this).
    /// </summary>
    public static ISiloBuilder AddCountCachulaTransactions(this ISiloBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Services.Any(s => s.ServiceType == typeof(TransactionCommitFilter)))
        {
            return builder;
        }

        if (!builder.Services.Any(s => s.ServiceType == typeof(ITransactionClient)))
        {
            builder.UseTransactions();
        }

        ReportClientCommits(builder.Services);
        builder.Services.Replace(ServiceDescriptor.Singleton<ITransactionalCalls, OrleansTransactionalCalls>());
        builder.Services.AddSingleton<TransactionCommitFilter>();
        builder.Services.AddSingleton<IIncomingGrainCallFilter>(services => services.GetRequiredService<TransactionCommitFilter>());
        builder.AddGrainExtension<ICacheOutboxCommitExtension, CacheOutboxCommitExtension>();
        return builder;
    }

    /// <summary>
    /// For an Orleans client that starts transactions (<see cref="ITransactionClient.RunTransaction(TransactionOption, Func{Task})"/>)
    /// on grains with a <see cref="CountCachula.Transactions.TransactionalCacheOutboxWriter{TState}"/>: once such a transaction
    /// committed, the grains that wrote in it publish their invalidations before <c>RunTransaction</c> returns.
    /// Calls <c>UseTransactions()</c> when that was not called before; do not call it again after this.
    /// </summary>
    public static IClientBuilder AddCountCachulaTransactions(this IClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Services.Any(s => s.ServiceType == typeof(CommitNotifier)))
        {
            return builder;
        }

        if (!builder.Services.Any(s => s.ServiceType == typeof(ITransactionClient)))
        {
            builder.UseTransactions();
        }

        ReportClientCommits(builder.Services);
        return builder;
    }

    /// <summary>Wraps the registered <see cref="ITransactionClient"/> (Orleans' own) so its commits are reported.</summary>
    private static void ReportClientCommits(IServiceCollection services)
    {
        var original = services.Last(s => s.ServiceType == typeof(ITransactionClient));
        services.Remove(original);
        services.AddSingleton<CommitNotifier>();
        services.AddSingleton<ITransactionClient>(provider => new CommitReportingTransactionClient(
            original.ImplementationInstance as ITransactionClient
                ?? original.ImplementationFactory?.Invoke(provider) as ITransactionClient
                ?? (ITransactionClient)ActivatorUtilities.CreateInstance(provider, original.ImplementationType!),
            provider.GetRequiredService<CommitNotifier>()));
    }
}
