using System.Net;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Connections.Security;
using Orleans.Messaging;
using CountCachula.Runtime.Cluster;

namespace CountCachula.AspNetCore.Hosting;

/// <summary>
/// A client's side of <see cref="CountCachulaClusterOptions"/>: mutual TLS on its gateway connections when
/// <c>CountCachula:Cluster:Tls</c> names a certificate, and the start-up refusal of a client that would reach gateways
/// off loopback without it. Added by <c>IClientBuilder.AddCountCachula()</c> and <c>UseCountCachulaTls</c>.
/// </summary>
internal static class ClientClusterTransport
{
    /// <summary>Registers the options, the start-up check and the TLS set-up; a second call adds nothing.</summary>
    public static void Add(IServiceCollection services)
    {
        if (services.Any(s => s.ServiceType == typeof(ClientTransportValidator)))
        {
            return;
        }

        services.AddOptions<CountCachulaClusterOptions>().BindConfiguration(CountCachulaClusterOptions.SectionName).ValidateOnStart();
        services.TryAddSingleton<ClusterCredentialsCache>();
        // The validator reads which gateway list provider the application chose, so it keeps the service collection.
        services.AddSingleton(sp => new ClientTransportValidator(sp, services));
        services.AddSingleton<IValidateOptions<CountCachulaClusterOptions>>(sp => sp.GetRequiredService<ClientTransportValidator>());
        services.AddSingleton<IConfigureOptions<ClientConnectionOptions>, ClientTlsSetup>();
    }
}

/// <summary>Puts Orleans' TLS middleware on the client's gateway connections.</summary>
internal sealed partial class ClientTlsSetup(IOptions<CountCachulaClusterOptions> cluster, ClusterCredentialsCache cache, ILogger<ClientTlsSetup> logger)
    : IConfigureOptions<ClientConnectionOptions>
{
    /// <inheritdoc />
    public void Configure(ClientConnectionOptions options)
    {
        var tls = cluster.Value.Tls;
        if (!tls.IsConfigured)
        {
            return;
        }

        // The start-up check has reported any problem already; this only throws when it was bypassed.
        var (credentials, problems) = cache.Get(tls, silo: false);
        if (credentials is null)
        {
            throw new InvalidOperationException(string.Join("; ", problems));
        }

        var settings = new TlsOptions
        {
            LocalCertificate = credentials.Certificate,
            RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
            ClientCertificateMode = RemoteCertificateMode.RequireCertificate,
            RemoteCertificateValidation = credentials.IsTrustedPeer,
        };
        options.ConfigureConnection(connection => connection.UseClientTls(settings));
        LogTls(logger, credentials.Certificate.Subject, credentials.Certificate.NotAfter, credentials.TrustDescription);
    }

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message =
        "Cluster transport: mutual TLS to the gateways, as {Subject} (valid until {NotAfter:u}); gateways must present a certificate {Trust}.")]
    private static partial void LogTls(ILogger logger, string subject, DateTime notAfter, string trust);
}

/// <summary>
/// Refuses to start a client outside Development whose gateways are not all on loopback (or come from a membership
/// table, so could be anywhere) while it has no TLS, unless <c>CountCachula:Cluster:AllowInsecure</c>; and reports
/// every problem of a TLS configuration.
/// </summary>
internal sealed partial class ClientTransportValidator(IServiceProvider provider, IServiceCollection services) : IValidateOptions<CountCachulaClusterOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, CountCachulaClusterOptions options)
    {
        if (options.Tls.IsConfigured)
        {
            var (_, problems) = provider.GetRequiredService<ClusterCredentialsCache>().Get(options.Tls, silo: false);
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems.Select(p => p + "."));
        }

        if (provider.GetService<IHostEnvironment>()?.IsDevelopment() == true
            || provider.GetServices<IConfigureOptions<ClientConnectionOptions>>().Any(c => c is not ClientTlsSetup))
        {
            return ValidateOptionsResult.Success;
        }

        // Only a static list (UseLocalhostClustering, UseStaticClustering) says where the gateways are before connecting.
        var staticList = services.LastOrDefault(s => s.ServiceType == typeof(IGatewayListProvider))?.ImplementationType == typeof(StaticGatewayListProvider);
        var gateways = staticList ? provider.GetRequiredService<IOptions<StaticGatewayListProviderOptions>>().Value.Gateways : [];
        if (gateways.Count > 0 && ClusterTransportRules.AllLoopback(gateways.Select(AddressOf)))
        {
            return ValidateOptionsResult.Success;
        }

        var exposure = gateways.Count > 0
            ? $"this client connects to gateways {string.Join(", ", gateways.Select(g => $"{g.Host}:{g.Port}"))}, not loopback"
            : "this client connects to the gateways its membership table lists, which may be anywhere";
        if (options.AllowInsecure)
        {
            LogInsecure(provider.GetRequiredService<ILogger<ClientTransportValidator>>(), exposure);
            return ValidateOptionsResult.Success;
        }

        return ValidateOptionsResult.Fail(ClusterTransportRules.Refusal(exposure) + ".");
    }

    private static IPAddress AddressOf(Uri gateway) =>
        gateway.IsLoopback ? IPAddress.Loopback : IPAddress.TryParse(gateway.Host.Trim('[', ']'), out var address) ? address : IPAddress.None;

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message =
        "Cluster transport is neither encrypted nor authenticated (CountCachula:Cluster:AllowInsecure=true): {Exposure}, and whoever sits between them can read and change what it sends and receives.")]
    private static partial void LogInsecure(ILogger logger, string exposure);
}
