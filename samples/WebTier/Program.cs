var builder = WebApplication.CreateBuilder(args);

// No silo here: this web server is an Orleans client of the hub's cluster and reads the hub's streams from it. In
// production the cluster's own clustering provider (Redis, Azure, ADO.NET, ...) finds the gateways; locally it is the
// gateway on 30000 unless configured (`--Orleans:GatewayPort 30001`).
builder.UseOrleansClient(client => client
    .UseLocalhostClustering(gatewayPort: builder.Configuration.GetValue("Orleans:GatewayPort", 30000))
    .AddCountCachula());
builder.Services.AddCountCachula();                  // the hub: streams, delivery, publishing
builder.Services.AddCountCachulaAuthentication();    // its token and API-key schemes and policies, beside yours

var app = builder.Build();
app.MapCacheEvents();           // browsers: new EventSource("/api/cache-events")
app.Run();
