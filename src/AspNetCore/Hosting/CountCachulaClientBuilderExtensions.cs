using CountCachula;
using CountCachula.Runtime.Queues;

// Extension methods live in the namespace of the type they extend, as Orleans' own do.
namespace Orleans.Hosting;

/// <summary>Lets an Orleans client read the hub's streams: a web tier in front of a separate hub cluster.</summary>
public static class CountCachulaClientBuilderExtensions
{
    private static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan OrleansResponseTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Adds the stream provider the hub's grains publish on (<see cref="CacheTopics.StreamProvider"/>), so
    /// <c>MapCacheEvents</c> in this client process can subscribe to it. The silos of the cluster add it with
    /// <c>ISiloBuilder.AddCountCachula()</c>. A publisher-only client (one that only calls
    /// <see cref="ICacheHubGrain"/>) does not need it.
    /// </summary>
    /// <remarks>
    /// Also bounds the client's calls that never get an answer at 10 s instead of Orleans' 30 s (unless the application
    /// set its own <c>ClientMessagingOptions.ResponseTimeout</c>), so a stream connect or a publish waiting on a silo
    /// that died fails over in seconds; and when a gateway connection closes (its silo may have died), the web tier
    /// registers and recovers every tenant it serves.
    /// <para>
    /// It binds <see cref="CountCachulaClusterOptions"/> from <c>CountCachula:Cluster</c> too: when
    /// <c>CountCachula:Cluster:Tls</c> names a certificate, the client speaks mutual TLS to the gateways (see
    /// <see cref="UseCountCachulaTls"/>); and outside Development a client whose gateways are not all on loopback
    /// refuses to start without TLS, unless <c>CountCachula:Cluster:AllowInsecure</c> is true.
    /// </para>
    /// </remarks>
    /// <param name="builder">The client builder of <c>UseOrleansClient</c>.</param>
    /// <returns>The same builder.</returns>
    public static IClientBuilder AddCountCachula(this IClientBuilder builder)
    {
        CountCachula.AspNetCore.Hosting.ClientClusterTransport.Add(builder.Services);

        // Safe to call twice: the provider is added once.
        if (!builder.Services.Any(s => s.IsKeyedService && Equals(s.ServiceKey, CacheTopics.StreamProvider)))
        {
            builder.AddPersistentStreams(CacheTopics.StreamProvider, CacheQueueAdapterFactory.Create, _ => { });
            builder.Services.AddSingleton<IClusterConnectionStatusObserver, CountCachula.AspNetCore.Streaming.GatewayLossWatcher>();
            builder.Services.PostConfigure<Orleans.Configuration.ClientMessagingOptions>(o =>
            {
                if (o.ResponseTimeout == OrleansResponseTimeout)
                {
                    o.ResponseTimeout = ResponseTimeout;
                }
            });
        }

        return builder;
    }

    /// <summary>
    /// Mutual TLS to the cluster's gateways with <see cref="ClusterTlsOptions"/> set in code, on top of what
    /// <c>CountCachula:Cluster:Tls</c> configures: the client presents its certificate (the silos refuse a client
    /// without one from the cluster's CA) and accepts a gateway only with a certificate that chains to
    /// <see cref="ClusterTlsOptions.CaCertificatePath"/> (or is pinned in <see cref="ClusterTlsOptions.AllowedThumbprints"/>).
    /// Problems stop the host at start with one message naming each setting.
    /// </summary>
    /// <param name="builder">The client builder of <c>UseOrleansClient</c>.</param>
    /// <param name="configure">Sets the certificate and the CA, e.g. <c>tls =&gt; { tls.CertificatePath = "/tls/web.pem"; ... }</c>.</param>
    /// <returns>The same builder.</returns>
    public static IClientBuilder UseCountCachulaTls(this IClientBuilder builder, Action<ClusterTlsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        CountCachula.AspNetCore.Hosting.ClientClusterTransport.Add(builder.Services);
        builder.Services.Configure<CountCachulaClusterOptions>(o => configure(o.Tls));
        return builder;
    }
}
