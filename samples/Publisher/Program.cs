using CountCachula;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

// A backend that is an Orleans client of the hub's cluster and nothing else: it invalidates the tags given on the
// command line (default: orders-list) and exits. `dotnet run -- order:42 orders-list`; a gateway on another port than
// 30000 is named by configuration, e.g. `Orleans__GatewayPort=30001 dotnet run -- order:42`.
var builder = Host.CreateApplicationBuilder(args);
var clustering = builder.Configuration.GetSection("Orleans:Clustering");
builder.UseOrleansClient(client =>
{
    // Started by an Aspire AppHost (samples/AppHost), Orleans takes the cluster from its own configuration:
    // Orleans:Clustering names the provider, Orleans:ClusterId and Orleans:ServiceId the cluster. Otherwise the hub
    // runs on this machine with its gateway on Orleans:GatewayPort.
    if (!clustering.Exists())
    {
        client.UseLocalhostClustering(gatewayPort: builder.Configuration.GetValue("Orleans:GatewayPort", 30000));
    }
});

// Orleans' Redis clustering looks its ServiceKey up as a keyed Redis connection; Aspire passes the connection string
// under ConnectionStrings:{ServiceKey}.
if (clustering["ServiceKey"] is { Length: > 0 } key && builder.Configuration.GetConnectionString(key) is { Length: > 0 } redis)
{
    builder.Services.TryAddKeyedSingleton<IConnectionMultiplexer>(key, (_, _) => ConnectionMultiplexer.Connect(redis));
}

using var host = builder.Build();
await host.StartAsync();

var tags = args.Length > 0 ? args : ["orders-list"];
var hub = host.Services.GetRequiredService<IClusterClient>().GetGrain<ICacheHubGrain>(CacheTenant.Default);
await hub.Invalidate(tags);
Console.WriteLine($"Invalidated {string.Join(", ", tags)} in tenant {CacheTenant.Default}.");

await host.StopAsync();
