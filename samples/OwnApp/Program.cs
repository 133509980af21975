using CountCachula;

var builder = WebApplication.CreateBuilder(args);

// The hub's grains run in this app's silo, its SSE engine in this app's web server.
builder.UseOrleans(silo => silo
    .UseLocalhostClustering()
    .AddCountCachula());
builder.Services.AddCountCachula();

var app = builder.Build();
app.MapCacheEvents();       // browsers: new EventSource("/api/cache-events?tags=order:*")
app.MapCachePublishing();   // backends outside the cluster: POST /api/cache/invalidate

// The application's own code tells browsers what changed through the hub grain.
app.MapPost("/orders/{id}/ship", async (string id, IGrainFactory grains) =>
{
    // ... the order's own state changes here ...
    await grains.GetGrain<ICacheHubGrain>(CacheTenant.Default).Invalidate([$"order:{id}", "orders-list"]);
    return Results.Accepted();
});

app.Run();
