namespace CountCachula.AspNetCore.Connections;

/// <summary>
/// Counts this silo's open streams per tenant and per client address, so one customer or one noisy client cannot take
/// every connection the silo can hold. A slot is taken before the stream opens and given back when it closes.
/// </summary>
internal sealed class ConnectionLimits
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _perTenant = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _perAddress = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Takes a slot for a stream of <paramref name="tenant"/> from <paramref name="address"/>, or says which limit is full.</summary>
    /// <param name="tenant">The stream's tenant.</param>
    /// <param name="address">The client's address.</param>
    /// <param name="perTenant">The tenant limit; 0 for none.</param>
    /// <param name="perAddress">The address limit; 0 for none.</param>
    /// <returns>Null when the slot was taken; otherwise which limit refused it.</returns>
    public string? TryAcquire(string tenant, string address, int perTenant, int perAddress)
    {
        lock (_lock)
        {
            var tenantCount = _perTenant.GetValueOrDefault(tenant);
            if (perTenant > 0 && tenantCount >= perTenant)
            {
                return $"This tenant already holds {tenantCount} streams on this server (CountCachula:MaxConnectionsPerTenant = {perTenant}).";
            }

            var addressCount = _perAddress.GetValueOrDefault(address);
            if (perAddress > 0 && addressCount >= perAddress)
            {
                return $"Your address already holds {addressCount} streams on this server (CountCachula:MaxConnectionsPerIp = {perAddress}).";
            }

            _perTenant[tenant] = tenantCount + 1;
            _perAddress[address] = addressCount + 1;
            return null;
        }
    }

    /// <summary>Gives back the slot taken by <see cref="TryAcquire"/>.</summary>
    public void Release(string tenant, string address)
    {
        lock (_lock)
        {
            Decrement(_perTenant, tenant);
            Decrement(_perAddress, address);
        }

        Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Completes at the next release: lets tests and diagnostics wait instead of polling.</summary>
    public Task WhenReleased() => Volatile.Read(ref _changed).Task;

    /// <summary>Streams <paramref name="tenant"/> holds on this silo.</summary>
    public int ForTenant(string tenant)
    {
        lock (_lock)
        {
            return _perTenant.GetValueOrDefault(tenant);
        }
    }

    /// <summary>How many tenants and addresses hold at least one stream (entries are dropped at zero).</summary>
    public (int Tenants, int Addresses) Tracked
    {
        get
        {
            lock (_lock)
            {
                return (_perTenant.Count, _perAddress.Count);
            }
        }
    }

    private static void Decrement(Dictionary<string, int> counts, string key)
    {
        if (counts.TryGetValue(key, out var count))
        {
            if (count <= 1)
            {
                counts.Remove(key);
            }
            else
            {
                counts[key] = count - 1;
            }
        }
    }
}
