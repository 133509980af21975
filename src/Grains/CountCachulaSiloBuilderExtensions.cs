using CountCachula;
using CountCachula.Grains;
using CountCachula.Grains.Declared;
using CountCachula.Runtime.Queues;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

// Extension methods live in the namespace of the type they extend, as Orleans' own do.
namespace Orleans.Hosting;

/// <summary>Adds Count Cachula's grains and streams to a silo.</summary>
public static class CountCachulaSiloBuilderExtensions
{
    /// <summary>
    /// Registers the stream provider that carries cache events (in-memory queues read by a waiting read, see
    /// <c>docs/architecture.md</c>), plus in-memory defaults for what the host has
    /// not configured itself: the grain storage of stream pub-sub and of the hub's schedules, and the reminder service.
    /// </summary>
    /// <remarks>
    /// <see cref="CountCachulaSiloOptions"/> are bound from <see cref="CountCachulaSiloOptions.SectionName"/>, then
    /// <paramref name="configure"/> changes them, and they are validated when the silo starts: a value out of range
    /// stops it with one message naming the key.
    /// <para>
    /// Also binds <see cref="CountCachulaClusterOptions"/> from <c>CountCachula:Cluster</c>: when <c>CountCachula:Cluster:Tls</c>
    /// names a certificate, every silo-to-silo and client-to-gateway connection is mutual TLS (see
    /// <see cref="UseCountCachulaTls"/>); and outside Development a silo whose silo or gateway endpoint is not on
    /// loopback refuses to start without TLS, unless <c>CountCachula:Cluster:AllowInsecure</c> is true.
    /// </para>
    /// <para>
    /// Also adds the incoming call filter that publishes what grain methods declare with
    /// <see cref="InvalidatesCacheTagsAttribute"/> when their call succeeds, and checks every such template when the
    /// silo starts (a bad one stops it, naming the grain class, method and template); see <c>docs/from-a-grain.md</c>.
    /// </para>
    /// </remarks>
    /// <param name="builder">The silo builder.</param>
    /// <param name="configure">Changes to the options after configuration is bound.</param>
    /// <returns>The same builder.</returns>
    public static ISiloBuilder AddCountCachula(this ISiloBuilder builder, Action<CountCachulaSiloOptions>? configure = null)
    {
        // Bound, then the application's code, then checked once at start (a bad value stops the silo, naming the key).
        var options = builder.Services.AddOptions<CountCachulaSiloOptions>().BindConfiguration(CountCachulaSiloOptions.SectionName);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CountCachulaSiloOptions>, CountCachulaSiloOptionsValidator>());
        builder.Services.AddOptions<GrainCollectionOptions>().Configure<IOptions<CountCachulaSiloOptions>>((o, hub) =>
        {
            // Per grain class, so the application's own grains keep whatever age it chose.
            foreach (var grain in new[] { typeof(CacheHubGrain), typeof(BroadcastGrain), typeof(TagTopicGrain) })
            {
                o.ClassSpecificCollectionAge.TryAdd(grain.FullName!, hub.Value.IdleGrainCollectionAge);
            }
        });
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton<HubMetrics>();
        AddFailover(builder);
        AddDeclaredInvalidation(builder);
        SiloClusterTransport.Add(builder.Services);
        builder.AddPersistentStreams(CacheTopics.StreamProvider, CacheQueueAdapterFactory.Create, streams =>
        {
            streams.Configure<HashRingStreamQueueMapperOptions>(o => o.Configure<IOptions<CountCachulaSiloOptions>>((q, hub) => q.TotalQueueCount = hub.Value.StreamQueueCount));
            streams.ConfigurePullingAgent(agent => agent.Configure<IOptions<CountCachulaSiloOptions>>((o, hub) => o.GetQueueMsgsTimerPeriod = hub.Value.StreamPollInterval));
        });

        if (!HasStorage(builder.Services, "PubSubStore"))
        {
            AddMemoryStorage(builder, "PubSubStore");
        }

        if (!HasStorage(builder.Services, CacheTopics.Storage))
        {
            AddMemoryStorage(builder, CacheTopics.Storage);
        }

        if (!builder.Services.Any(s => s.ServiceType.FullName == "Orleans.IReminderTable"))
        {
            builder.UseInMemoryReminderService();
        }

        return builder;
    }

    /// <summary>
    /// Mutual TLS on this silo's connections with <see cref="ClusterTlsOptions"/> set in code, on top of what
    /// <c>CountCachula:Cluster:Tls</c> configures: the silo presents its certificate to every peer and accepts a silo or
    /// client only with a certificate that chains to <see cref="ClusterTlsOptions.CaCertificatePath"/> (or is pinned
    /// in <see cref="ClusterTlsOptions.AllowedThumbprints"/>). Problems (a missing file, a certificate without its
    /// key) stop the host at start with one message naming each setting. Orleans' TLS middleware
    /// (Microsoft.Orleans.Connections.Security) carries the connections.
    /// </summary>
    /// <param name="builder">The silo builder.</param>
    /// <param name="configure">Sets the certificate and the CA, e.g. <c>tls =&gt; { tls.CertificatePath = "/tls/node.pem"; ... }</c>.</param>
    /// <returns>The same builder.</returns>
    public static ISiloBuilder UseCountCachulaTls(this ISiloBuilder builder, Action<ClusterTlsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        SiloClusterTransport.Add(builder.Services);
        builder.Services.Configure<CountCachulaClusterOptions>(o => configure(o.Tls));
        return builder;
    }

    /// <summary>
    /// What makes a silo fail over in seconds rather than tens of seconds, wherever the hub runs (docs/operations.md):
    /// the cache-event streams' pulling agents retry a failed read or delivery after 100 ms, doubling to 1 s, instead of
    /// Orleans' 10–20 s; calls that never get an answer fail after 10 s instead of 30 s (unless the application chose
    /// its own); and a warning at start when the cluster's membership probing is left at Orleans' defaults.
    /// </summary>
    private static void AddFailover(ISiloBuilder builder)
    {
        if (builder.Services.Any(s => s.ImplementationType == typeof(FailoverSettings)))
        {
            return;
        }

        builder.Services.AddKeyedSingleton<Orleans.Runtime.Providers.IQueueReaderBackoffProvider>(CacheTopics.StreamProvider, StreamFailoverBackoff.Default);
        builder.Services.AddKeyedSingleton<Orleans.Runtime.Providers.IMessageDeliveryBackoffProvider>(CacheTopics.StreamProvider, StreamFailoverBackoff.Default);
        builder.Services.PostConfigure<SiloMessagingOptions>(o =>
        {
            if (o.ResponseTimeout == FailoverSettings.OrleansResponseTimeout)
            {
                o.ResponseTimeout = FailoverSettings.ResponseTimeout;
            }
        });
        builder.Services.AddHostedService<FailoverSettings>();
    }

    /// <summary>
    /// Grain methods marked <see cref="InvalidatesCacheTagsAttribute"/> publish their invalidation when they succeed
    /// (docs/from-a-grain.md): one incoming call filter, and a check of every template when the silo starts.
    /// </summary>
    private static void AddDeclaredInvalidation(ISiloBuilder builder)
    {
        if (builder.Services.Any(s => s.ServiceType == typeof(DeclaredInvalidations)))
        {
            return;
        }

        builder.Services.AddSingleton<DeclaredInvalidations>();
        // CountCachula.Transactions replaces it (whichever of the two calls comes first).
        builder.Services.TryAddSingleton<ITransactionalCalls, NoTransactionalCalls>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, DeclaredInvalidationCheck>();
        builder.AddIncomingGrainCallFilter<DeclaredInvalidationFilter>();
    }

    /// <summary>
    /// In-memory storage whose states are copied with Orleans' own binary serializer. The default, JSON with type names,
    /// buys nothing for bytes that never leave the process, and the history is written on every event: it was a tenth
    /// of the hub's CPU at 100 events/s.
    /// </summary>
    private static void AddMemoryStorage(ISiloBuilder builder, string name) =>
        builder.AddMemoryGrainStorage(name, (Microsoft.Extensions.Options.OptionsBuilder<MemoryGrainStorageOptions> storage) =>
            storage.Configure<Orleans.Serialization.Serializer>((options, serializer) => options.GrainStorageSerializer = new Orleans.Storage.OrleansGrainStorageSerializer(serializer)));

    private static bool HasStorage(IServiceCollection services, string name) =>
        services.Any(s => s.IsKeyedService && Equals(s.ServiceKey, name) && s.ServiceType == typeof(Orleans.Storage.IGrainStorage));
}
