using System.Collections.Concurrent;
using CountCachula.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Connections.Security;
using Orleans.Hosting;
using Orleans.Runtime;

namespace CountCachula.Tests.Security;

/// <summary>
/// A silo with mutual TLS from <c>CountCachula:Cluster:Tls</c> (PFX certificate, the cluster's CA), as
/// <c>ISiloBuilder.AddCountCachula()</c> sets it up from configuration alone.
/// </summary>
public sealed class TlsSiloFixture : IAsyncLifetime
{
    public TestCertificates Certificates { get; } = TestCertificates.Create();

    public string ClusterId { get; } = "tls-" + Guid.NewGuid().ToString("N")[..8];

    public int SiloPort { get; } = FreePorts.Next();

    public int GatewayPort { get; } = FreePorts.Next();

    public IHost Silo { get; private set; } = null!;

    public LogCapture Log { get; } = new();

    public IGrainFactory Grains => Silo.Services.GetRequiredService<IGrainFactory>();

    /// <summary>The silo's own configuration: a PKCS#12 file with its password, and the CA.</summary>
    public IEnumerable<KeyValuePair<string, string?>> SiloSettings =>
    [
        new("CountCachula:Cluster:Tls:CertificatePath", Certificates.NodePfx),
        new("CountCachula:Cluster:Tls:Password", TestCertificates.PfxPassword),
        new("CountCachula:Cluster:Tls:CaCertificatePath", Certificates.CaPath),
    ];

    public async Task InitializeAsync()
    {
        Silo = StartSilo(SiloPort, GatewayPort, primarySiloPort: null, SiloSettings);
        await Silo.StartAsync();
    }

    /// <summary>A silo of this cluster, with Count Cachula's grains, no web frontend, and <paramref name="settings"/>.</summary>
    public IHost StartSilo(int siloPort, int gatewayPort, int? primarySiloPort, IEnumerable<KeyValuePair<string, string?>> settings) =>
        Host.CreateDefaultBuilder()
            .UseEnvironment(Environments.Production)
            .ConfigureAppConfiguration(configuration => configuration.AddInMemoryCollection(settings))
            .ConfigureLogging(logging => logging.ClearProviders().AddProvider(Log).SetMinimumLevel(LogLevel.Information))
            .UseOrleans(silo => silo
                .UseLocalhostClustering(siloPort, gatewayPort,
                    primarySiloPort is { } primary ? new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, primary) : null,
                    serviceId: "countcachula", clusterId: ClusterId)
                .AddCountCachula())
            .Build();

    public async Task DisposeAsync()
    {
        await Silo.StopAsync();
        Silo.Dispose();
        Certificates.Dispose();
    }
}

/// <summary>
/// The finding this answers: a process with no credential, pointed at a Production silo's gateway, could call the hub
/// grain of any tenant. With <c>CountCachula:Cluster:Tls</c> the silo requires a certificate from the cluster's CA on
/// every connection: a client with one is served; one without TLS, with TLS but no certificate, or with a certificate
/// from another CA is refused, and so is a gateway whose certificate the client cannot trace to its CA.
/// </summary>
public sealed class ClusterTlsTests(TlsSiloFixture fixture) : IClassFixture<TlsSiloFixture>
{
    /// <summary>A refusal shows in a log within this; a served client starts in well under a second.</summary>
    private static readonly TimeSpan Refusal = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_web_tier_with_the_clusters_certificate_is_served()
    {
        var tenant = "tls-served-" + Guid.NewGuid().ToString("N")[..6];
        KeyValuePair<string, string>[] settings =
        [
            new("Orleans:Mode", "Client"),
            new("Orleans:GatewayPort", fixture.GatewayPort.ToString()),
            .. fixture.Certificates.NodeSettings(),
        ];
        await using var frontend = await TestFrontend.StartAsync(fixture.ClusterId, settings: settings);
        await using var stream = await SseClient.ConnectAsync(frontend.Http, $"/api/cache-events?tenant={tenant}&tags=item:1");
        Assert.Equal("connected", (await stream.NextAsync("connected through a gateway over mutual TLS")).EventType);

        await fixture.Grains.GetGrain<ICacheHubGrain>(tenant).Invalidate(["item:1"]);
        var delivered = await stream.NextAsync("the invalidation published on the silo, carried over TLS");
        Assert.Equal(("invalidate", "item:1"), (delivered.EventType, delivered.Data));

        // And the client publishes through the gateway too.
        await frontend.Get<IGrainFactory>().GetGrain<ICacheHubGrain>(tenant).Invalidate(["item:1"]);
        var published = await stream.NextAsync("published by the client through the gateway");
        Assert.Equal(("invalidate", "item:1"), (published.EventType, published.Data));
    }

    [Fact]
    public async Task A_client_without_TLS_is_refused_and_publishes_nothing()
    {
        var victim = "tls-victim-" + Guid.NewGuid().ToString("N")[..6];
        await AssertRefusedAsync(client => { }, victim, silo: "Authentication failed");

        Assert.Equal(0, (await fixture.Grains.GetGrain<ICacheHubGrain>(victim).GetHistoryStats()).Events);
    }

    [Fact]
    public async Task A_client_that_speaks_TLS_without_a_certificate_is_refused()
    {
        // Orleans' own TLS, trusting any gateway, presenting nothing: the silo requires a certificate.
        await AssertRefusedAsync(client => client.UseTls(tls =>
        {
            tls.ClientCertificateMode = RemoteCertificateMode.AllowCertificate;
            tls.AllowAnyRemoteCertificate();
        }), "tls-victim", silo: "Authentication failed");
    }

    [Fact]
    public async Task A_client_with_a_certificate_from_another_CA_is_refused_by_the_silo()
    {
        // The client trusts the cluster's CA, so only the silo's check can refuse it.
        await AssertRefusedAsync(client => client.UseCountCachulaTls(tls =>
        {
            tls.CertificatePath = fixture.Certificates.StrangerPem;
            tls.KeyPath = fixture.Certificates.StrangerKey;
            tls.CaCertificatePath = fixture.Certificates.CaPath;
        }), "tls-victim", silo: $"Refused a cluster connection: the peer's certificate CN=countcachula-node ({fixture.Certificates.StrangerThumbprint}) is not trusted, as it does not chain to the cluster's CA");
    }

    [Fact]
    public async Task A_client_refuses_a_gateway_whose_certificate_is_not_from_its_CA()
    {
        // The cluster's own certificate, but the client expects gateways signed by another CA.
        await AssertRefusedAsync(client => client.UseCountCachulaTls(tls =>
        {
            tls.CertificatePath = fixture.Certificates.NodePem;
            tls.KeyPath = fixture.Certificates.NodeKey;
            tls.CaCertificatePath = fixture.Certificates.OtherCaPath;
        }), "tls-victim", client: $"Refused a cluster connection: the peer's certificate CN=countcachula-node ({fixture.Certificates.NodeThumbprint}) is not trusted");
    }

    [Fact]
    public async Task A_pinned_thumbprint_stands_in_for_the_CA()
    {
        // No CA on the client: it accepts the gateway by the pinned thumbprint of the silo's certificate.
        await using var client = await StartClientAsync(client => client.UseCountCachulaTls(tls =>
        {
            tls.CertificatePath = fixture.Certificates.NodePem;
            tls.KeyPath = fixture.Certificates.NodeKey;
            tls.AllowedThumbprints = [fixture.Certificates.NodeThumbprint.ToLowerInvariant()];
        }));
        var tenant = "tls-pinned-" + Guid.NewGuid().ToString("N")[..6];
        await client.Services.GetRequiredService<IGrainFactory>().GetGrain<ICacheHubGrain>(tenant).Invalidate(["pinned:1"]);

        Assert.Equal(1, (await fixture.Grains.GetGrain<ICacheHubGrain>(tenant).GetHistoryStats()).Events);
    }

    [Fact]
    public async Task A_second_silo_with_the_clusters_certificate_joins_over_TLS()
    {
        // PEM files this time; the silo-to-silo connections are mutual TLS both ways.
        var settings = fixture.Certificates.NodeSettings().Select(s => new KeyValuePair<string, string?>(s.Key, s.Value));
        using var second = fixture.StartSilo(FreePorts.Next(), FreePorts.Next(), fixture.SiloPort, settings);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await second.StartAsync(cts.Token);
        try
        {
            var membership = second.Services.GetRequiredService<IClusterMembershipService>();
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cts.Token))
            {
                if (snapshot.Members.Values.Count(m => m.Status == SiloStatus.Active) == 2)
                {
                    break;
                }
            }
        }
        finally
        {
            await second.StopAsync();
        }
    }

    /// <summary>An Orleans client of the fixture's cluster, configured by <paramref name="configure"/>, started.</summary>
    private async Task<ClientHost> StartClientAsync(Action<IClientBuilder> configure, LogCapture? log = null)
    {
        var host = Host.CreateDefaultBuilder()
            .UseEnvironment(Environments.Development)
            .ConfigureLogging(logging => logging.ClearProviders().AddProvider(log ?? new LogCapture()).SetMinimumLevel(LogLevel.Information))
            .UseOrleansClient(client =>
            {
                client.UseLocalhostClustering(fixture.GatewayPort, "countcachula", fixture.ClusterId);
                configure(client);
            })
            .Build();
        try
        {
            using var cts = new CancellationTokenSource(Refusal);
            await host.StartAsync(cts.Token);
            return new ClientHost(host);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts a client configured by <paramref name="configure"/> and waits until the refusal shows in the silo's log
    /// (<paramref name="silo"/>) or the client's (<paramref name="client"/>): by then its start has not completed, so
    /// no call of it can reach a grain. Had it started after all, a publish to <paramref name="tenant"/> must fail.
    /// </summary>
    private async Task AssertRefusedAsync(Action<IClientBuilder> configure, string tenant, string? silo = null, string? client = null)
    {
        var clientLog = new LogCapture();
        var siloLogFrom = fixture.Log.Messages.Count;
        using var host = Host.CreateDefaultBuilder()
            .UseEnvironment(Environments.Development)
            .ConfigureLogging(logging => logging.ClearProviders().AddProvider(clientLog).SetMinimumLevel(LogLevel.Information))
            .UseOrleansClient(builder =>
            {
                builder.UseLocalhostClustering(fixture.GatewayPort, "countcachula", fixture.ClusterId);
                configure(builder);
            })
            .Build();
        using var cts = new CancellationTokenSource(Refusal);
        var start = host.StartAsync(cts.Token);
        bool Refused() =>
            (silo is null || fixture.Log.Messages.Skip(siloLogFrom).Any(m => m.Contains(silo, StringComparison.Ordinal)))
            && (client is null || clientLog.Messages.Any(m => m.Contains(client, StringComparison.Ordinal)));
        while (!Refused() && !start.IsCompleted)
        {
            await Task.Delay(50);
        }

        try
        {
            if (start.IsCompletedSuccessfully)
            {
                var call = host.Services.GetRequiredService<IGrainFactory>().GetGrain<ICacheHubGrain>(tenant).Invalidate(["stolen:1"]);
                await Assert.ThrowsAnyAsync<Exception>(() => call.WaitAsync(Refusal));
            }

            Assert.True(Refused(), $"No refusal was logged.\nsilo:\n{string.Join('\n', fixture.Log.Messages.Skip(siloLogFrom))}\nclient:\n{string.Join('\n', clientLog.Messages)}");
        }
        finally
        {
            await cts.CancelAsync();
            try
            {
                await start;
                await host.StopAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                // The refused start ends with its cancellation or its connection failure.
            }
        }
    }

    private sealed class ClientHost(IHost host) : IAsyncDisposable
    {
        public IServiceProvider Services => host.Services;

        public async ValueTask DisposeAsync()
        {
            try
            {
                await host.StopAsync(TimeSpan.FromSeconds(5));
            }
            finally
            {
                host.Dispose();
            }
        }
    }
}

/// <summary>Keeps every log message, with its category, for a test to look through.</summary>
public sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<string> Messages { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Messages);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> messages) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            messages.Enqueue($"{category}: {formatter(state, exception)}");
    }
}
