using System.Net;
using CountCachula.WebFrontend.Hosting;
using Orleans.Hosting;

namespace CountCachula.WebFrontend;

/// <summary>The frontend as an Orleans client: a stateless web tier in front of a separate hub cluster.</summary>
public static partial class FrontendHost
{
    /// <summary>
    /// Runs a silo here, configured by <paramref name="configureSilo"/> (the default), or with <c>Orleans:Mode=Client</c>
    /// only an Orleans client of the hub cluster; either way with the readiness check that fits.
    /// </summary>
    private static void UseSiloOrClient(WebApplicationBuilder builder, IConfigurationSection orleans, Action<ISiloBuilder> configureSilo)
    {
        if (IsClientMode(builder.Configuration))
        {
            UseHubClient(builder, orleans);
            return;
        }

        builder.UseOrleans(configureSilo);
        builder.Services.AddHealthChecks().AddCheck<SiloHealthCheck>("silo", tags: ["ready"]);
    }

    /// <summary><c>Orleans:Mode=Client</c> runs no silo here: the process connects to the cluster's gateways instead.</summary>
    private static bool IsClientMode(IConfiguration configuration) =>
        configuration.GetValue("Orleans:Mode", "Silo")!.Equals("Client", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Connects to the hub cluster as a client and reads its streams from there. The gateways come from Orleans'
    /// own <c>Orleans:Clustering</c> section when it names a provider (as an Aspire AppHost's <c>AsClient</c> does),
    /// else from <c>Orleans:Membership=Redis</c> (the cluster's own membership table at <c>Orleans:Redis</c>), else from
    /// <c>Orleans:Gateways</c> (<c>host:port</c> list, comma-separated), else the local silo's
    /// <c>Orleans:GatewayPort</c> (30000).
    /// </summary>
    private static void UseHubClient(WebApplicationBuilder builder, IConfigurationSection orleans)
    {
        var serviceId = orleans.GetValue("ServiceId", "countcachula")!;
        var clusterId = orleans.GetValue("ClusterId", "countcachula-dev")!;
        builder.UseOrleansClient(client =>
        {
            var membership = orleans.GetValue("Membership", "Localhost")!;
            var gateways = orleans.GetValue("Gateways", "")!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (OrleansConfiguresClustering(orleans))
            {
                // Orleans has set up the provider (an Aspire AppHost's AsClient), ClusterId and ServiceId included.
                UseConfiguredRedis(client.Services, builder.Configuration, orleans);
            }
            else if (membership.Equals("Redis", StringComparison.OrdinalIgnoreCase))
            {
                var redis = orleans["Redis"];
                if (string.IsNullOrWhiteSpace(redis))
                {
                    throw new InvalidOperationException("Orleans:Membership is 'Redis' but Orleans:Redis (a StackExchange.Redis connection string such as 'redis:6379') is not set.");
                }

                client.Configure<Orleans.Configuration.ClusterOptions>(o =>
                {
                    o.ServiceId = serviceId;
                    o.ClusterId = clusterId;
                });
                client.UseRedisClustering(redis);
            }
            else if (gateways.Length > 0)
            {
                client.Configure<Orleans.Configuration.ClusterOptions>(o =>
                {
                    o.ServiceId = serviceId;
                    o.ClusterId = clusterId;
                });
                client.UseStaticClustering([.. gateways.Select(ParseGateway)]);
            }
            else
            {
                client.UseLocalhostClustering(orleans.GetValue("GatewayPort", 30000), serviceId, clusterId);
            }

            client.AddCountCachula();
        });
        builder.Services.AddSingleton<ClusterClientHealthCheck>();
        builder.Services.AddSingleton<IClusterConnectionStatusObserver>(sp => sp.GetRequiredService<ClusterClientHealthCheck>());
        builder.Services.AddHealthChecks().AddCheck<ClusterClientHealthCheck>("cluster", tags: ["ready"]);
    }

    private static IPEndPoint ParseGateway(string text) => IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port != 0
        ? endpoint
        : throw new InvalidOperationException($"Orleans:Gateways holds '{text}'; write each gateway as address:port, e.g. 10.0.0.5:30000.");
}
