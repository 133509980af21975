using System.Diagnostics;
using Orleans.Placement;

namespace CountCachula.WebFrontend.Sample;

/// <summary>
/// The outbox sample (docs/from-a-grain.md): an order grain whose shipping is declared
/// (<see cref="InvalidatesCacheTagsAttribute"/>) and written with its state (<see cref="CacheOutbox{TState}"/>), so
/// the invalidation survives a crash between the storage write and the publish. Served with the sample items API.
/// </summary>
public static class SampleOrders
{
    /// <summary>
    /// The configuration key of the crash-test hook: a grain-key prefix (off when unset or empty). A sample order whose
    /// key starts with it kills its own process with SIGKILL right after its outbox write is stored and before the
    /// publish, exactly where a kill -9 would hurt (tests/CountCachula.Tests/Crash/OutboxCrashTests.cs). It exists for
    /// that test; nothing else sets it.
    /// </summary>
    public const string CrashHook = "CountCachula:Testing:CrashAfterOutboxWrite";

    /// <summary>Maps <c>POST /api/sample-orders/{id}/ship</c> and <c>GET /api/sample-orders/{id}</c>.</summary>
    public static RouteGroupBuilder MapSampleOrders(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/api/sample-orders").WithTags("Sample orders");
        group.MapPost("/{id}/ship", async (string id, IGrainFactory grains) =>
        {
            if (Invalid(id) is { } problem)
            {
                return problem;
            }

            var write = await grains.GetGrain<ISampleOrderGrain>(id).Ship();
            return Results.Ok(new { id, eventId = write.EventId });
        });
        group.MapGet("/{id}", async (string id, IGrainFactory grains) =>
            Invalid(id) ?? Results.Ok(new { id, shipments = await grains.GetGrain<ISampleOrderGrain>(id).Shipments() }));
        return group;
    }

    /// <summary>An id whose tag <c>order:{id}</c> the hub would refuse is refused here, before the grain is called.</summary>
    private static IResult? Invalid(string id) =>
        CacheInput.Check([$"order:{id}"], "id") is { } error
            ? Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid order id", detail: error.Message)
            : null;
}

/// <summary>An order of the outbox sample.</summary>
internal interface ISampleOrderGrain : IGrainWithStringKey
{
    Task<CacheWrite> Ship();

    Task<int> Shipments();
}

[GenerateSerializer]
internal sealed class SampleOrder
{
    [Id(0)] public int Shipments { get; set; }
}

/// <summary>
/// Activated on the silo whose web server received the request (so the crash test knows which process to expect to
/// die), its state in the hub's grain storage (Redis in a cluster).
/// </summary>
[PreferLocalPlacement]
internal sealed class SampleOrderGrain(
    [PersistentState("sample-order", CacheTopics.Storage)] IPersistentState<CacheOutbox<SampleOrder>> storage,
    IConfiguration configuration) : Grain, ISampleOrderGrain
{
    private CacheOutboxWriter<SampleOrder> _outbox = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var crashPrefix = configuration[SampleOrders.CrashHook];
        var crash = !string.IsNullOrEmpty(crashPrefix) && this.GetPrimaryKeyString().StartsWith(crashPrefix, StringComparison.Ordinal);
        _outbox = new(this, crash ? new KillAfterWrite<CacheOutbox<SampleOrder>>(storage, this.GetGrainId()) : storage);
        return _outbox.ActivateAsync();
    }

    [InvalidatesCacheTags("order:{key}", "orders-list")]
    public async Task<CacheWrite> Ship()
    {
        _outbox.State.Shipments++;
        await _outbox.WriteStateAsync();
        return CacheWrite.Pending;
    }

    public Task<int> Shipments() => Task.FromResult(_outbox.State.Shipments);
}

/// <summary>The crash hook (<see cref="SampleOrders.CrashHook"/>): the state's write is stored, then the process is killed.</summary>
internal sealed class KillAfterWrite<T>(IPersistentState<T> inner, GrainId grain) : IPersistentState<T>
{
    public T State
    {
        get => inner.State;
        set => inner.State = value;
    }

    public string? Etag => inner.Etag;

    public bool RecordExists => inner.RecordExists;

    public Task ClearStateAsync() => inner.ClearStateAsync();

    public Task ReadStateAsync() => inner.ReadStateAsync();

    public async Task WriteStateAsync()
    {
        await inner.WriteStateAsync();

        // Written straight to stderr: the logging pipeline would not get to flush before the kill.
        Console.Error.WriteLine($"{SampleOrders.CrashHook}: the outbox write of {grain} is stored; killing this process (SIGKILL) before the publish.");
        Console.Error.Flush();
        Process.GetCurrentProcess().Kill();
        await Task.Delay(Timeout.Infinite);
    }
}
