using System.Collections.Concurrent;

namespace CountCachula.Tests.Declared;

/// <summary>A grain whose state carries the invalidations its writes owe, as an application's would.</summary>
public interface IOutboxOrderGrain : IGrainWithStringKey
{
    Task<CacheWrite> Ship(string customerId);

    Task<CacheWrite<int>> ShipDeclared(string extraTag, string lateTag);

    /// <summary>Owed and not known to be published.</summary>
    Task<int> Owed();

    /// <summary>Kept in the stored state (published ones stay until the next write).</summary>
    Task<int> Stored();

    Task<long> Version();

    Task Deactivate();

    Task Clear();

    Task<CacheWrite> Touch();
}

[GenerateSerializer]
public sealed class OutboxOrder
{
    [Id(0)] public int Ships { get; set; }
}

public sealed class OutboxOrderGrain([PersistentState("order", OutboxOrderGrain.Storage)] IPersistentState<CacheOutbox<OutboxOrder>> storage) : Grain, IOutboxOrderGrain
{
    public const string Storage = "outbox-tests";

    private CacheOutboxWriter<OutboxOrder> _outbox = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _outbox = new(this, storage)
        {
            // The key says how the test wants retries: "noretry-" leaves the repair to the next activation.
            RetryInterval = this.GetPrimaryKeyString().StartsWith("noretry-", StringComparison.Ordinal) ? TimeSpan.FromHours(1) : TimeSpan.FromMilliseconds(200),
        };
        return _outbox.ActivateAsync();
    }

    public Task<CacheWrite> Ship(string customerId)
    {
        _outbox.State.Ships++;
        return _outbox.WriteStateAsync([$"oorder:{this.GetPrimaryKeyString()}", $"ocustomer:{customerId}:orders"]);
    }

    [InvalidatesCacheTags("oorder:{key}")]
    public async Task<CacheWrite<int>> ShipDeclared(string extraTag, string lateTag)
    {
        _outbox.State.Ships++;
        CacheInvalidation.Add(extraTag);
        await _outbox.WriteStateAsync();
        CacheInvalidation.Add(lateTag);
        return CacheWrite.Of(_outbox.State.Ships);
    }

    public Task<int> Owed() => Task.FromResult(_outbox.Owed.Count);

    public Task<int> Stored() => Task.FromResult(storage.State.Invalidations.Count);

    public Task<long> Version() => Task.FromResult(storage.State.Version);

    public Task<CacheWrite> Touch()
    {
        _outbox.State.Ships++;
        return _outbox.WriteStateAsync();
    }

    public Task Clear() => storage.ClearStateAsync();

    public Task Deactivate()
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}

/// <summary>
/// Makes the hub refuse outbox publishes of chosen grains a number of times, as an unavailable hub would
/// (<see cref="HubUnavailableException"/>), before they reach it.
/// </summary>
public static class HubRefusals
{
    private static readonly ConcurrentDictionary<string, int> Left = new(StringComparer.Ordinal);

    /// <summary>The next <paramref name="times"/> outbox publishes of the grain keyed <paramref name="grainKey"/> fail.</summary>
    public static void Refuse(string grainKey, int times) => Left[grainKey] = times;

    public static Task Filter(IIncomingGrainCallContext context)
    {
        if (context.Grain is ICacheHubGrain && context.Request.GetArgumentCount() > 0 && context.Request.GetArgument(0) is CachePublication { IdempotencyKey: { } key })
        {
            foreach (var (grain, left) in Left)
            {
                if (left > 0 && key.Contains("/" + grain + ":", StringComparison.Ordinal) && Left.TryUpdate(grain, left - 1, left))
                {
                    throw new HubUnavailableException("Refused by the test.");
                }
            }
        }

        return context.Invoke();
    }
}
