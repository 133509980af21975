using Microsoft.Extensions.Configuration;
using Orleans.Hosting;
using Orleans.TestingHost;

namespace CountCachula.Tests.Infrastructure;

/// <summary>A two-silo TestingHost cluster with Count Cachula's grains and streams, shared by a collection.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    /// <summary>The tenant configured with a 300 ms debounce window.</summary>
    public const string DebouncedTenant = "debounced";

    /// <summary>A tenant debounced with the default window (100 ms).</summary>
    public const string DefaultDebouncedTenant = "debounced-default";

    /// <summary>The history byte cap of every tenant (small, so tests reach it quickly).</summary>
    public const long HistoryMaxBytes = 2 * 1024 * 1024;

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
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.AddCountCachula(o =>
            {
                o.DebounceWindows[DebouncedTenant] = TimeSpan.FromMilliseconds(300);
                o.DebouncedTenants.Add(DefaultDebouncedTenant);
                o.HistoryMaxBytes = HistoryMaxBytes;
            });
            // Reminders normally tick at most once a minute; tests need a schedule to fire within seconds.
            siloBuilder.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        }
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder clientBuilder) =>
            clientBuilder.AddMemoryStreams(CacheTopics.StreamProvider);
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "TestingHost cluster";
}
