using CountCachula;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// A backend that is an Orleans client of the hub's cluster and nothing else: it invalidates the tags given on the
// command line (default: orders-list) and exits. `dotnet run -- order:42 orders-list`
var builder = Host.CreateApplicationBuilder(args);
builder.UseOrleansClient(client => client.UseLocalhostClustering());
using var host = builder.Build();
await host.StartAsync();

var tags = args.Length > 0 ? args : ["orders-list"];
var hub = host.Services.GetRequiredService<IClusterClient>().GetGrain<ICacheHubGrain>(CacheTenant.Default);
await hub.Invalidate(tags);
Console.WriteLine($"Invalidated {string.Join(", ", tags)} in tenant {CacheTenant.Default}.");

await host.StopAsync();
