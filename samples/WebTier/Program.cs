var builder = WebApplication.CreateBuilder(args);

// No silo here: this web server is an Orleans client of the hub's cluster and reads the hub's streams from it.
builder.UseOrleansClient(client => client
    .UseLocalhostClustering()   // in production: the cluster's own clustering provider (Redis, Azure, ADO.NET, ...)
    .AddCountCachula());
builder.Services.AddCountCachula();

var app = builder.Build();
app.MapCacheEvents();           // browsers: new EventSource("/api/cache-events")
app.Run();
