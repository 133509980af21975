using CountCachula;

var builder = WebApplication.CreateBuilder(args);

// The hub's grains run in this app's silo, its SSE engine in this app's web server. The silo listens on Orleans'
// local ports, 11111 and 30000, unless configured otherwise: `--Orleans:SiloPort 11112 --Orleans:GatewayPort 30001`.
builder.UseOrleans(silo => silo
    .UseLocalhostClustering(
        siloPort: builder.Configuration.GetValue("Orleans:SiloPort", 11111),
        gatewayPort: builder.Configuration.GetValue("Orleans:GatewayPort", 30000))
    .AddCountCachula());
builder.Services.AddCountCachula();                  // the hub: streams, delivery, publishing
builder.Services.AddCountCachulaAuthentication();    // its token and API-key schemes and policies, beside yours

var app = builder.Build();
app.MapCacheEvents();       // browsers: new EventSource("/api/cache-events?tags=order:*")
app.MapCachePublishing();   // backends outside the cluster: POST /api/cache/invalidate

// The endpoint only calls the grain: what the write makes stale is declared on the grain's method, below. The
// response carries CountCachula-Event-Id, the invalidation's id, which the browser can wait for on its stream.
app.MapPost("/orders/{id}/ship", async (string id, IGrainFactory grains) =>
{
    await grains.GetGrain<IOrderGrain>(id).Ship();
    return Results.Accepted();
});

app.Run();

public interface IOrderGrain : IGrainWithStringKey
{
    Task<CacheWrite> Ship();
}

public sealed class OrderGrain : Grain, IOrderGrain
{
    // When Ship succeeds the silo invalidates order:{the grain's key} and orders-list before the call returns;
    // when it throws, nothing. CacheWrite brings the invalidation's id back to the caller.
    [InvalidatesCacheTags("order:{key}", "orders-list")]
    public Task<CacheWrite> Ship()
    {
        // ... the order's own state changes here ...
        return Task.FromResult(CacheWrite.Pending);
    }
}
