namespace CountCachula.Tests.Declared;

/// <summary>A grain whose writes declare the tags they make stale, as an application's would.</summary>
public interface IDeclaredOrderGrain : IGrainWithStringKey
{
    Task<CacheWrite> Ship(string customerId);

    Task<CacheWrite<int>> AddLines(string customerId, int count);

    Task Reject(string customerId);

    Task<CacheWrite> ShipAndTouch(string customerId, string extraTag);

    Task<CacheWrite> Label(string label);
}

public sealed class DeclaredOrderGrain : Grain, IDeclaredOrderGrain
{
    private int _lines;

    [InvalidatesCacheTags("dorder:{key}", "dcustomer:{customerId}:orders")]
    public Task<CacheWrite> Ship(string customerId) => Task.FromResult(CacheWrite.Pending);

    [InvalidatesCacheTags("dorder:{key}:lines:{count}")]
    public Task<CacheWrite<int>> AddLines(string customerId, int count)
    {
        _lines += count;
        return Task.FromResult(CacheWrite.Of(_lines));
    }

    [InvalidatesCacheTags("dorder:{key}", "dcustomer:{customerId}:orders")]
    public Task Reject(string customerId) => throw new InvalidOperationException("The order cannot be rejected.");

    [InvalidatesCacheTags("dorder:{key}")]
    public async Task<CacheWrite> ShipAndTouch(string customerId, string extraTag)
    {
        await Task.Yield();
        CacheInvalidation.Add(extraTag, $"dcustomer:{customerId}:orders");
        return CacheWrite.Pending;
    }

    [InvalidatesCacheTags("dlabel:{label}")]
    public Task<CacheWrite> Label(string label) => Task.FromResult(CacheWrite.Pending);
}

/// <summary>An integer-keyed grain in its own tenant: <c>{key}</c> is the number in invariant decimal.</summary>
public interface IDeclaredCounterGrain : IGrainWithIntegerKey
{
    Task Bump(decimal by);
}

[CacheTenant(DeclaredCounterGrain.Tenant)]
public sealed class DeclaredCounterGrain : Grain, IDeclaredCounterGrain
{
    public const string Tenant = "declared-tenant";

    [InvalidatesCacheTags("dcounter:{key}:{by}")]
    public Task Bump(decimal by) => Task.CompletedTask;
}
