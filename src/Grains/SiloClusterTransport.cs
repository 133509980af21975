using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Connections.Security;
using CountCachula.Runtime.Cluster;

namespace CountCachula.Grains;

/// <summary>
/// A silo's side of <see cref="CountCachulaClusterOptions"/>: mutual TLS on its silo and gateway connections when
/// <c>CountCachula:Cluster:Tls</c> names a certificate, and the start-up refusal of a silo reachable from elsewhere
/// without it. Added by <c>ISiloBuilder.AddCountCachula()</c> and <c>UseCountCachulaTls</c>.
/// </summary>
internal static class SiloClusterTransport
{
    /// <summary>Registers the options, the start-up check and the TLS set-up; a second call adds nothing.</summary>
    public static void Add(IServiceCollection services)
    {
        if (services.Any(s => s.ImplementationType == typeof(SiloTransportValidator)))
        {
            return;
        }

        services.AddOptions<CountCachulaClusterOptions>().BindConfiguration(CountCachulaClusterOptions.SectionName).ValidateOnStart();
        services.TryAddSingleton<ClusterCredentialsCache>();
        services.AddSingleton<IValidateOptions<CountCachulaClusterOptions>, SiloTransportValidator>();
        services.AddSingleton<IConfigureOptions<SiloConnectionOptions>, SiloTlsSetup>();
    }

    /// <summary>Orleans' TLS settings for a cluster peer: a certificate both ways, checked by <see cref="ClusterCredentials.IsTrustedPeer"/>.</summary>
    public static TlsOptions TlsOptions(ClusterCredentials credentials) => new()
    {
        LocalCertificate = credentials.Certificate,
        RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
        ClientCertificateMode = RemoteCertificateMode.RequireCertificate,
        RemoteCertificateValidation = credentials.IsTrustedPeer,
    };
}

/// <summary>Puts Orleans' TLS middleware on the silo's inbound silo and gateway connections and its outbound silo connections.</summary>
internal sealed partial class SiloTlsSetup(IOptions<CountCachulaClusterOptions> cluster, ClusterCredentialsCache cache, ILogger<SiloTlsSetup> logger)
    : IConfigureOptions<SiloConnectionOptions>
{
    /// <inheritdoc />
    public void Configure(SiloConnectionOptions options)
    {
        var tls = cluster.Value.Tls;
        if (!tls.IsConfigured)
        {
            return;
        }

        // The start-up check has reported any problem already; this only throws when it was bypassed.
        var (credentials, problems) = cache.Get(tls, silo: true);
        if (credentials is null)
        {
            throw new InvalidOperationException(string.Join("; ", problems));
        }

        var settings = SiloClusterTransport.TlsOptions(credentials);
        options.ConfigureSiloInboundConnection(connection => connection.UseServerTls(settings));
        options.ConfigureGatewayInboundConnection(connection => connection.UseServerTls(settings));
        options.ConfigureSiloOutboundConnection(connection => connection.UseClientTls(settings));
        LogTls(logger, credentials.Certificate.Subject, credentials.Certificate.NotAfter, credentials.TrustDescription);
    }

    [LoggerMessage(EventId = 3120, Level = LogLevel.Information, Message =
        "Cluster transport: mutual TLS on silo and gateway connections, as {Subject} (valid until {NotAfter:u}); peers must present a certificate {Trust}.")]
    private static partial void LogTls(ILogger logger, string subject, DateTime notAfter, string trust);
}

/// <summary>
/// Refuses to start a silo outside Development whose silo or gateway endpoint is not on loopback while it has no TLS
/// (neither <c>CountCachula:Cluster:Tls</c> nor connection middleware of the application's own, such as Orleans'
/// <c>UseTls</c>), unless <c>CountCachula:Cluster:AllowInsecure</c>; and reports every problem of a TLS configuration.
/// </summary>
internal sealed partial class SiloTransportValidator(IServiceProvider services, ClusterCredentialsCache cache, ILogger<SiloTransportValidator> logger)
    : IValidateOptions<CountCachulaClusterOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, CountCachulaClusterOptions options)
    {
        if (options.Tls.IsConfigured)
        {
            var (_, problems) = cache.Get(options.Tls, silo: true);
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems.Select(p => p + "."));
        }

        if (services.GetService<IHostEnvironment>()?.IsDevelopment() == true
            || services.GetServices<IConfigureOptions<SiloConnectionOptions>>().Any(c => c is not SiloTlsSetup))
        {
            return ValidateOptionsResult.Success;
        }

        var endpoints = services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        var silo = endpoints.SiloListeningEndpoint ?? new IPEndPoint(endpoints.AdvertisedIPAddress, endpoints.SiloPort);
        var gatewayPort = endpoints.GatewayPort != 0 ? endpoints.GatewayPort : endpoints.GatewayListeningEndpoint?.Port ?? 0;
        var gateway = endpoints.GatewayListeningEndpoint ?? (gatewayPort != 0 ? new IPEndPoint(endpoints.AdvertisedIPAddress, gatewayPort) : null);
        IPAddress[] addresses = gateway is null ? [silo.Address] : [silo.Address, gateway.Address];
        if (ClusterTransportRules.AllLoopback(addresses))
        {
            return ValidateOptionsResult.Success;
        }

        var exposure = gateway is null ? $"this silo listens on {silo}, not loopback" : $"this silo listens on {silo} (silo) and {gateway} (gateway), not loopback";
        if (options.AllowInsecure)
        {
            LogInsecure(logger, exposure);
            return ValidateOptionsResult.Success;
        }

        return ValidateOptionsResult.Fail(ClusterTransportRules.Refusal(exposure) + ".");
    }

    [LoggerMessage(EventId = 3121, Level = LogLevel.Warning, Message =
        "Cluster transport is neither encrypted nor authenticated (CountCachula:Cluster:AllowInsecure=true): {Exposure}, and anyone who reaches those ports can join the cluster or call its grains for any tenant.")]
    private static partial void LogInsecure(ILogger logger, string exposure);
}
