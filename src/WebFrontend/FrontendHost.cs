using System.Net;
using CountCachula.WebFrontend.Dashboard;
using CountCachula.WebFrontend.Hosting;
using CountCachula.AspNetCore;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Hosting;
using CountCachula.AspNetCore.Security;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Orleans.Dashboard;
using Orleans.Hosting;
using CountCachula.WebFrontend.Sample;

namespace CountCachula.WebFrontend;

/// <summary>
/// Builds the frontend: one silo (Orleans co-hosted in the web app), the SSE endpoint, the publishing API, the sample
/// items API and the demo page. <c>Program.cs</c>, the tests and the benchmark all start the app through here.
/// </summary>
public static partial class FrontendHost
{
    /// <summary>Creates the application from command-line <paramref name="args"/> and configuration.</summary>
    /// <param name="args">Command-line arguments, e.g. <c>--urls http://127.0.0.1:5080 --Orleans:SiloPort 11112</c>.</param>
    /// <param name="configure">Last-minute changes to the builder (tests use it for logging and options).</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        RaiseThreadPoolMinimum();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = DefaultContentRoot(args) });
        var orleans = builder.Configuration.GetSection("Orleans");

        // Orleans' own errors about a peer that is stopping or has left are retried by Orleans: written as warnings.
        RetriedClusterErrors.Register(builder.Services);
        builder.WebHost.UseSockets(sockets =>
        {
            sockets.UnsafePreferInlineScheduling = builder.Configuration.GetValue("Kestrel:InlineScheduling", true);

            // A connection the process has not accepted yet waits in the kernel's accept queue, and a SYN that finds
            // it full is dropped (the client retries after 1 s). Kestrel asks for 512 places; ask for as many as the
            // kernel allows (it caps the backlog at net.core.somaxconn), and see BurstAcceptTransportFactory.
            sockets.Backlog = builder.Configuration.GetValue("Kestrel:Backlog", 65535);
        });

        // Registered after UseSockets, so Kestrel binds TCP endpoints with it where it can (Linux).
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory, BurstAcceptTransportFactory>();
        UseSiloOrClient(builder, orleans, silo =>
        {
            ConfigureClustering(silo, orleans);
            if (orleans.GetValue("Kubernetes", false))
            {
                // In a pod: silo name from the pod, and a pod deleted by Kubernetes is declared dead at once instead
                // of after missed probes. Membership itself stays in Redis (deploy/kubernetes/).
                silo.UseKubernetesHosting();
            }

            if (OrleansDashboardEnabled(builder))
            {
                silo.AddDashboard();
            }

            // Declared dead (after a freeze): stop like a deploy does, not with a FailFast that cuts every stream.
            silo.Services.AddSingleton<IFatalErrorHandler, StopOnFatalError>();

            // CountCachula:Hub is bound by AddCountCachula itself; Orleans:Streams holds the stream settings of this host.
            silo.AddCountCachula(hub => orleans.GetSection("Streams").Bind(hub));
        });

        builder.Services.AddCountCachula();
        builder.Services.AddCountCachulaAuthentication();
        builder.Services.AddCountCachulaDashboard();
        builder.Services.AddProblemDetails();
        builder.Services.AddHealthChecks().AddCountCachula();
        builder.Services.AddOpenApi();
        builder.AddCountCachulaTelemetry();
        builder.Services.AddSingleton<ItemStore>();
        builder.Services.AddOutputCache();
        configure?.Invoke(builder);

        var app = builder.Build();

        // Errors the endpoints do not describe themselves (404, 405, 500) still answer as RFC 7807 ProblemDetails.
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseCors();

        // After CORS, so a browser's preflight is answered before any credential is asked for. Every endpoint below is
        // anonymous only where it says so: the hub's own endpoints carry their policies (CountCachulaPolicies).
        app.UseAuthorization();

        // After authorization, so a cached copy is only ever served to a caller the endpoint's policy admits.
        app.UseOutputCache();
        var settings = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CountCachulaOptions>>().Value;
        var samples = app.Configuration.GetSection(SamplesOptions.SectionName).Get<SamplesOptions>() ?? new();
        if (samples.EnabledIn(app.Environment))
        {
            app.MapDemoPage();
            app.MapSampleItems().RequireCors(CountCachulaCors.PolicyName);
            app.MapSampleOrders().RequireCors(CountCachulaCors.PolicyName);
        }

        app.MapCacheEvents().RequireCors(CountCachulaCors.PolicyName);
        app.MapCachePublishing().RequireCors(CountCachulaCors.PolicyName);
        app.MapCacheDashboard();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
        var scrape = app.MapPrometheusScrapingEndpoint("/metrics");
        if (settings.Metrics.RequireAuthorization == true)
        {
            scrape.RequireAuthorization(CountCachulaPolicies.Operator);
        }

        if (settings.Metrics.RequireHost.Length > 0)
        {
            scrape.RequireHost(settings.Metrics.RequireHost);
        }

        if (app.Environment.IsDevelopment())
        {
            app.MapOpenApi();
        }

        if (OrleansDashboardEnabled(builder))
        {
            // Development-only by default; switched on elsewhere, it is an operator view like /dashboard.
            var orleansDashboard = app.MapOrleansDashboard("/orleans");
            if (!app.Environment.IsDevelopment())
            {
                orleansDashboard.RequireAuthorization(CountCachulaPolicies.Operator);
            }
        }

        app.Lifetime.ApplicationStarted.Register(() => LogAuth(app));
        if (!string.IsNullOrEmpty(app.Configuration[SampleOrders.CrashHook]))
        {
            app.Logger.LogWarning("{Hook} is set: a sample order whose key starts with '{Prefix}' kills this process after its outbox write. A crash-test hook; never set it elsewhere.",
                SampleOrders.CrashHook, app.Configuration[SampleOrders.CrashHook]);
        }

        app.Lifetime.ApplicationStarted.Register(() => ReportZeroMetrics(app));
        return app;
    }

    /// <summary>
    /// A counter appears on <c>/metrics</c> only once something is recorded on it, so an idle silo would scrape as if
    /// it had none. Once the exporters listen (they start before <c>ApplicationStarted</c>), record a zero on each.
    /// </summary>
    private static void ReportZeroMetrics(WebApplication app)
    {
        var defaultTenant = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CountCachulaOptions>>().Value.DefaultTenant;
        app.Services.GetRequiredService<CountCachulaMetrics>().ReportZeros(defaultTenant);
        app.Services.GetService<CountCachula.Grains.HubMetrics>()?.ReportZeros(defaultTenant);
    }

    private static void LogAuth(WebApplication app)
    {
        var auth = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CountCachulaOptions>>().Value.Auth;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CountCachula.Auth");
        if (auth.IsEnabled)
        {
            logger.LogInformation("Authentication is on: subscribers need a token, publishers a token with the publish scope or an API key ({ApiKeys} configured).", auth.ApiKeys.Count);
        }
        else if (app.Environment.IsDevelopment())
        {
            // Expected on a developer's machine, so not a warning: a normal start should print none.
            logger.LogInformation(
                "Authentication is off (the Development environment needs no set-up): anyone who reaches this server may subscribe, and publish from this host. Set CountCachula:Auth:Enabled=true and CountCachula:Auth:SigningKey (or CountCachula:Auth:Authority, an OpenID Connect provider) to require credentials.");
        }
        else
        {
            logger.LogWarning(
                "Authentication is off (CountCachula:Auth:Enabled=false): anyone who reaches this server may subscribe, and publish from this host. Set CountCachula:Auth:Enabled=true and CountCachula:Auth:SigningKey (or CountCachula:Auth:Authority, an OpenID Connect provider) to require credentials.");
        }
    }

    /// <summary>
    /// The Orleans dashboard (grain-level views at <c>/orleans</c>) costs about 5 % of a core and 80 MB when idle, so it
    /// is on by default in Development only; <c>Orleans:Dashboard</c> decides elsewhere.
    /// </summary>
    private static bool OrleansDashboardEnabled(WebApplicationBuilder builder) =>
        builder.Configuration.GetValue("Orleans:Dashboard", builder.Environment.IsDevelopment()) && !IsClientMode(builder.Configuration);

    /// <summary>
    /// <c>Orleans:Membership</c> chooses how silos find each other: <c>Localhost</c> (the default, for <c>dotnet run</c>
    /// and tests in one process) or <c>Redis</c> (a real cluster: membership, grain storage and reminders in the Redis
    /// at <c>Orleans:Redis</c>). When <c>Orleans:Clustering</c> names a provider (as an Aspire AppHost does), Orleans
    /// sets up membership from it instead, and a Redis one also holds the grain storage and reminders.
    /// </summary>
    private static void ConfigureClustering(ISiloBuilder silo, IConfigurationSection orleans)
    {
        var siloPort = OrleansPort(orleans, "SiloPort", 11111);
        var gatewayPort = OrleansPort(orleans, "GatewayPort", 30000);
        var serviceId = orleans.GetValue("ServiceId", "countcachula")!;
        var clusterId = orleans.GetValue("ClusterId", "countcachula-dev")!;
        var configured = OrleansConfiguresClustering(orleans);
        var clustering = configured ? "Redis" : orleans.GetValue("Membership", "Localhost")!;
        if (clustering.Equals("Localhost", StringComparison.OrdinalIgnoreCase))
        {
            var primaryPort = orleans.GetValue<int?>("PrimarySiloPort");
            silo.UseLocalhostClustering(
                siloPort,
                gatewayPort,
                primaryPort is { } port && port != siloPort ? new IPEndPoint(IPAddress.Loopback, port) : null,
                serviceId,
                clusterId);
            return;
        }

        if (!clustering.Equals("Redis", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Orleans:Membership is '{clustering}'; use 'Localhost' or 'Redis'.");
        }

        var redis = configured ? UseConfiguredRedis(silo.Services, silo.Configuration, orleans) : orleans["Redis"];
        if (!configured && string.IsNullOrWhiteSpace(redis))
        {
            throw new InvalidOperationException("Orleans:Membership is 'Redis' but Orleans:Redis (a StackExchange.Redis connection string such as 'redis:6379') is not set.");
        }

        var advertised = IPAddress.Parse(orleans.GetValue("AdvertisedIP", "127.0.0.1")!);
        silo.Configure<Orleans.Configuration.ClusterOptions>(o =>
        {
            o.ServiceId = serviceId;
            o.ClusterId = clusterId;
        });

        // A cluster that Orleans' configuration describes (an Aspire AppHost's, on one machine) listens only where it
        // advertises when that is loopback.
        silo.ConfigureEndpoints(advertised, siloPort, gatewayPort, listenOnAnyHostAddress: !configured || !IPAddress.IsLoopback(advertised));

        ConfigureFailover(silo, orleans);
        if (redis is null)
        {
            // Another Orleans clustering provider: grain storage and reminders keep the hub's in-memory defaults.
            return;
        }

        if (!configured)
        {
            silo.UseRedisClustering(redis);
        }

        var redisOptions = StackExchange.Redis.ConfigurationOptions.Parse(redis);
        silo.Services.AddRedisGrainStorage(CacheTopics.Storage, o => o.ConfigurationOptions = redisOptions);
        silo.Services.AddRedisGrainStorage("PubSubStore", o => o.ConfigurationOptions = redisOptions);
        silo.UseRedisReminderService(o => o.ConfigurationOptions = redisOptions);
    }

    /// <summary>
    /// The content root (where <c>appsettings.json</c> is read) defaults to the working directory. A published or built
    /// executable started from elsewhere would then run without its settings (log levels, stream polling), so it falls
    /// back to the executable's folder unless a content root is given.
    /// </summary>
    private static string? DefaultContentRoot(string[] args) =>
        File.Exists("appsettings.json") || args.Any(a => a.TrimStart('-').StartsWith("contentRoot", StringComparison.OrdinalIgnoreCase))
            || Environment.GetEnvironmentVariable("ASPNETCORE_CONTENTROOT") is not null
            ? null
            : AppContext.BaseDirectory;

    /// <summary>
    /// How fast a killed silo is declared dead, which is when its grains (a tenant's hub among them) can be activated
    /// again elsewhere and calls waiting on it fail instead of hanging: membership probing is the cluster's choice, not
    /// the hub package's (it warns at start when a real cluster leaves it at Orleans' defaults). The stream retries and
    /// the response timeout come with <c>AddCountCachula</c>. docs/operations.md says what each value costs.
    /// <c>Orleans:Probing</c> overrides any <see cref="Orleans.Configuration.ClusterMembershipOptions"/> and
    /// <c>Orleans:Messaging</c> any <see cref="Orleans.Configuration.SiloMessagingOptions"/>.
    /// </summary>
    private static void ConfigureFailover(ISiloBuilder silo, IConfigurationSection orleans)
    {
        silo.Configure<Orleans.Configuration.ClusterMembershipOptions>(o =>
        {
            // A probe every ~1 s (adaptive: 0.5–4 s), and a silo is suspected after two misses. The second probe of a
            // suspect goes through another silo, whose verdict is a second vote: two votes declare it dead. A kill -9
            // is so declared in about 2 s instead of Orleans' ~15 s (5 s probes, 3 misses).
            o.ProbeTimeout = TimeSpan.FromSeconds(1);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 2;
            // Gossip tells every silo of a death at once; reading the table every 5 s (not 60) is the fallback when a
            // gossip message is lost, and the heartbeat every 10 s (not 30) ages out entries of silos that vanished
            // without being declared dead (a whole cluster stopped at once) in 30 s instead of 90 s.
            o.TableRefreshTimeout = TimeSpan.FromSeconds(5);
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
            orleans.GetSection("Probing").Bind(o);
        });
        // AddCountCachula bounds unanswered calls at 10 s; any SiloMessagingOptions can still be set here.
        silo.Configure<Orleans.Configuration.SiloMessagingOptions>(o => orleans.GetSection("Messaging").Bind(o));
    }

    /// <summary>
    /// A fresh process on a small machine starts with as many pool threads as cores, and the pool injects more only
    /// slowly: a burst of blocking start-up work then stalls every request for about a second. Start wider.
    /// </summary>
    private static void RaiseThreadPoolMinimum()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = Math.Max(32, Environment.ProcessorCount * 8);
        ThreadPool.SetMinThreads(Math.Max(workers, wanted), Math.Max(io, wanted));
    }
}
