using CountCachula.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.TestingHost;
using Orleans.Transactions;

namespace CountCachula.Tests.Transactions;

/// <summary>Two TestingHost silos with Orleans transactions on in-memory transactional state storage.</summary>
public sealed class TransactionClusterFixture : IAsyncLifetime
{
    public TestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(2);
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) => siloBuilder
            .UseTransactions()
            .AddMemoryGrainStorage(TxTenant.Storage)
            .AddIncomingGrainCallFilter(LostCommitReports.Filter)
            .AddCountCachula()
            .AddCountCachulaTransactions();
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder clientBuilder) => clientBuilder
            .AddMemoryStreams(CacheTopics.StreamProvider)
            .AddCountCachulaTransactions();
    }
}

/// <summary>
/// What a subscriber of the grains' tenant sees of a transaction: each participant's invalidation once when it
/// commits, nothing when it aborts. A sentinel published after the transaction bounds what it could have caused:
/// events reach a subscriber in the hub's order.
/// </summary>
public sealed class TransactionTests(TransactionClusterFixture fixture) : IClassFixture<TransactionClusterFixture>
{
    [Fact]
    public async Task A_committed_transaction_publishes_each_participants_invalidation_once()
    {
        var (from, to, transfer) = Names();
        await using var subscriber = await StreamProbe.EverythingAsync(fixture.Client, TxTenant.Name);
        await Fund(from, 100);
        Assert.Equal([$"txaccount:{from}"], (await subscriber.NextAsync("the funding deposit")).Items);

        var write = await fixture.Client.GetGrain<ITxTransferGrain>(transfer).Transfer(from, to, 30);

        var seen = await UntilSentinel(subscriber, transfer);
        Assert.Equal(3, seen.Count);
        Assert.Contains(seen, e => e.Items.SequenceEqual([$"txaccount:{to}"]));
        Assert.Contains(seen, e => e.Items.SequenceEqual([$"txaccount:{from}"]));
        Assert.Contains(seen, e => e.Items.SequenceEqual([$"txtransfer:{transfer}"]));
        // The root's response came back after all three were accepted, with the highest id.
        Assert.Equal(seen.Max(e => e.Sequence), write.EventId);
        Assert.Equal(70, await fixture.Client.GetGrain<ITxAccountGrain>(from).Balance());
    }

    [Fact]
    public async Task An_aborted_transaction_publishes_nothing()
    {
        var (from, to, transfer) = Names();
        await using var subscriber = await StreamProbe.EverythingAsync(fixture.Client, TxTenant.Name);
        await Fund(from, 10);
        Assert.Equal([$"txaccount:{from}"], (await subscriber.NextAsync("the funding deposit")).Items);

        // The deposit to 'to' is written, then the withdrawal writes and throws: the transaction aborts.
        var e = await Assert.ThrowsAnyAsync<OrleansTransactionException>(() => fixture.Client.GetGrain<ITxTransferGrain>(transfer).Transfer(from, to, 30));

        Assert.Contains("Insufficient funds", e.ToString());
        Assert.Empty(await UntilSentinel(subscriber, transfer));
        Assert.Equal(10, await fixture.Client.GetGrain<ITxAccountGrain>(from).Balance());
        Assert.Equal(0, await fixture.Client.GetGrain<ITxAccountGrain>(to).Balance());
    }

    [Fact]
    public async Task A_commit_after_an_abort_publishes_only_its_own_writes()
    {
        var (from, to, transfer) = Names();
        await using var subscriber = await StreamProbe.EverythingAsync(fixture.Client, TxTenant.Name);
        await Fund(from, 10);
        Assert.Equal([$"txaccount:{from}"], (await subscriber.NextAsync("the funding deposit")).Items);
        await Assert.ThrowsAnyAsync<OrleansTransactionException>(() => fixture.Client.GetGrain<ITxTransferGrain>(transfer).Transfer(from, to, 30));

        await fixture.Client.GetGrain<ITxTransferGrain>(transfer).Transfer(from, to, 5);

        // The aborted writes' versions are reused by the committed ones, under keys never published before.
        var seen = await UntilSentinel(subscriber, transfer);
        Assert.Equal(3, seen.Count);
        Assert.Single(seen, e => e.Items.SequenceEqual([$"txaccount:{to}"]));
        Assert.Single(seen, e => e.Items.SequenceEqual([$"txaccount:{from}"]));
    }

    [Fact]
    public async Task A_transaction_the_client_runs_publishes_once_when_it_commits_and_not_when_it_aborts()
    {
        var (account, other, run) = Names();
        await using var subscriber = await StreamProbe.EverythingAsync(fixture.Client, TxTenant.Name);
        var transactions = fixture.Client.ServiceProvider.GetRequiredService<ITransactionClient>();

        await transactions.RunTransaction(TransactionOption.Create, () => fixture.Client.GetGrain<ITxAccountGrain>(account).Deposit(5));
        await Assert.ThrowsAnyAsync<OrleansTransactionException>(() => transactions.RunTransaction(TransactionOption.Create, async () =>
        {
            await fixture.Client.GetGrain<ITxAccountGrain>(other).Deposit(5);
            await fixture.Client.GetGrain<ITxAccountGrain>(account).Withdraw(50);
        }));
        // A delegate that returns false asks for an abort without an exception.
        await transactions.RunTransaction(TransactionOption.Create, async () =>
        {
            await fixture.Client.GetGrain<ITxAccountGrain>(other).Deposit(7);
            return false;
        });

        var seen = await UntilSentinel(subscriber, run);
        Assert.Equal([$"txaccount:{account}"], Assert.Single(seen).Items);
        Assert.Equal(0, await fixture.Client.GetGrain<ITxAccountGrain>(other).Balance());
    }

    [Fact]
    public async Task A_transaction_aborted_without_an_exception_publishes_nothing()
    {
        var (_, to, transfer) = Names();
        await using var subscriber = await StreamProbe.EverythingAsync(fixture.Client, TxTenant.Name);

        // The root call returns normally: a nested delegate asked for the abort, no participant threw.
        var write = await fixture.Client.GetGrain<ITxTransferGrain>(transfer).DepositThenCancel(to, 9);

        Assert.Equal(0, write.EventId);
        Assert.Empty(await UntilSentinel(subscriber, transfer));
        Assert.Equal(0, await fixture.Client.GetGrain<ITxAccountGrain>(to).Balance());
    }

    [Fact]
    public async Task Declared_tags_of_a_joined_call_without_an_outbox_write_are_not_published()
    {
        var (_, to, transfer) = Names();
        await using var subscriber = await StreamProbe.EverythingAsync(fixture.Client, TxTenant.Name);

        await fixture.Client.GetGrain<ITxTransferGrain>(transfer).DepositAndTouch(to, 3);

        // The deposit went through the outbox; the touch's declared tag could not be tied to the commit (logged).
        var seen = await UntilSentinel(subscriber, transfer);
        Assert.Equal([$"txaccount:{to}"], Assert.Single(seen).Items);
    }

    [Fact]
    public async Task A_lost_commit_report_is_published_with_the_grains_next_transaction_under_its_own_key()
    {
        var (account, _, run) = Names();
        await using var subscriber = await StreamProbe.EverythingAsync(fixture.Client, TxTenant.Name);
        LostCommitReports.Lose(account, 1);

        await Fund(account, 4);
        Assert.Empty(await UntilSentinel(subscriber, run));   // committed, stored, not yet published
        await Fund(account, 6);

        // The second commit publishes the first write's invalidation, then its own: two events, in write order.
        var seen = await UntilSentinel(subscriber, run);
        Assert.Equal(2, seen.Count);
        Assert.All(seen, e => Assert.Equal([$"txaccount:{account}"], e.Items));
        Assert.EndsWith(":1", seen[0].IdempotencyKey);
        Assert.EndsWith(":2", seen[1].IdempotencyKey);
        Assert.Equal(10, await fixture.Client.GetGrain<ITxAccountGrain>(account).Balance());
    }

    private static (string From, string To, string Transfer) Names()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        return ($"a-{run}", $"b-{run}", $"t-{run}");
    }

    /// <summary>A committed deposit of its own transaction (the client starts it).</summary>
    private Task Fund(string account, int amount) =>
        fixture.Client.GetGrain<ITxFundingGrain>(account).Fund(account, amount);

    /// <summary>Everything the subscriber receives before a sentinel published now.</summary>
    private async Task<List<CacheEvent>> UntilSentinel(StreamProbe subscriber, string run)
    {
        var sentinel = $"txsentinel:{run}";
        await fixture.Client.GetGrain<ICacheHubGrain>(TxTenant.Name).Invalidate([sentinel]);
        var seen = new List<CacheEvent>();
        while (true)
        {
            var next = await subscriber.NextAsync("the events before the sentinel");
            if (next.Items.SequenceEqual([sentinel]))
            {
                return seen;
            }

            seen.Add(next);
        }
    }
}

/// <summary>Starts a transaction around one deposit.</summary>
public interface ITxFundingGrain : IGrainWithStringKey
{
    [Transaction(TransactionOption.Create)]
    Task Fund(string account, int amount);
}

public sealed class TxFundingGrain : Grain, ITxFundingGrain
{
    public Task Fund(string account, int amount) => GrainFactory.GetGrain<ITxAccountGrain>(account).Deposit(amount);
}
