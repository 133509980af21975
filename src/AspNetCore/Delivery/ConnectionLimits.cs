using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Security;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// Counts this silo's open streams per tenant, per client address and per credential, and the distinct interests each
/// credential listens to, so one customer, one noisy client or one leaked token cannot take every connection the silo
/// can hold or spend its tenant's tag budget. A slot is taken before the stream opens and given back when it closes.
/// </summary>
internal sealed class ConnectionLimits
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _perTenant = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _perAddress = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _perCredential = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<Interest, int>> _listenedByCredential = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Takes a slot for a stream of <paramref name="tenant"/> from <paramref name="address"/>, or says which limit is full.</summary>
    /// <param name="tenant">The stream's tenant.</param>
    /// <param name="address">The client's address.</param>
    /// <param name="perTenant">The tenant limit; 0 for none.</param>
    /// <param name="perAddress">The address limit; 0 for none.</param>
    /// <returns>Null when the slot was taken; otherwise which limit refused it.</returns>
    /// <param name="credential">Who holds the credential (<see cref="CallerGrant.Credential"/>); null for none.</param>
    /// <param name="perCredential">The credential limit; 0 for none.</param>
    public string? TryAcquire(string tenant, string address, int perTenant, int perAddress, string? credential = null, int perCredential = 0)
    {
        lock (_lock)
        {
            var credentialKey = credential is null ? null : CredentialKey(tenant, credential);
            var credentialCount = credentialKey is null ? 0 : _perCredential.GetValueOrDefault(credentialKey);
            if (credentialKey is not null && perCredential > 0 && credentialCount >= perCredential)
            {
                return $"Your credential already holds {credentialCount} streams on this server (CountCachula:MaxConnectionsPerCredential = {perCredential}).";
            }

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
            if (credentialKey is not null)
            {
                _perCredential[credentialKey] = credentialCount + 1;
            }

            return null;
        }
    }

    /// <summary>Gives back the slot taken by <see cref="TryAcquire"/>.</summary>
    public void Release(string tenant, string address, string? credential = null)
    {
        lock (_lock)
        {
            Decrement(_perTenant, tenant);
            Decrement(_perAddress, address);
            if (credential is not null)
            {
                Decrement(_perCredential, CredentialKey(tenant, credential));
            }
        }

        Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Completes at the next release: lets tests and diagnostics wait instead of polling.</summary>
    public Task WhenReleased() => Volatile.Read(ref _changed).Task;

    /// <summary>
    /// Counts <paramref name="interests"/> as listened to by <paramref name="credential"/>, or says why not: the
    /// credential would then listen to more than <paramref name="perCredential"/> distinct interests on this silo.
    /// Interests it already listens to cost nothing, so a stream can always be reopened or narrowed.
    /// </summary>
    public string? TryListen(string tenant, string? credential, IReadOnlyCollection<Interest> interests, int perCredential)
    {
        if (credential is null || interests.Count == 0)
        {
            return null;
        }

        lock (_lock)
        {
            var key = CredentialKey(tenant, credential);
            if (!_listenedByCredential.TryGetValue(key, out var listened))
            {
                listened = [];
                _listenedByCredential[key] = listened;
            }

            if (perCredential > 0)
            {
                var added = interests.Count(i => !listened.ContainsKey(i));
                if (added > 0 && listened.Count + added > perCredential)
                {
                    if (listened.Count == 0)
                    {
                        _listenedByCredential.Remove(key);
                    }

                    return $"Your credential already listens to {listened.Count} distinct tags and patterns on this server and asks for {added} more " +
                        $"(CountCachula:MaxListenedTagsPerCredential = {perCredential}); close streams or use fewer distinct tags.";
                }
            }

            foreach (var interest in interests)
            {
                listened[interest] = listened.GetValueOrDefault(interest) + 1;
            }

            return null;
        }
    }

    /// <summary>Gives back what <see cref="TryListen"/> counted.</summary>
    public void Unlisten(string tenant, string? credential, IReadOnlyCollection<Interest> interests)
    {
        if (credential is null || interests.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            var key = CredentialKey(tenant, credential);
            if (!_listenedByCredential.TryGetValue(key, out var listened))
            {
                return;
            }

            foreach (var interest in interests)
            {
                if (listened.TryGetValue(interest, out var count))
                {
                    if (count <= 1)
                    {
                        listened.Remove(interest);
                    }
                    else
                    {
                        listened[interest] = count - 1;
                    }
                }
            }

            if (listened.Count == 0)
            {
                _listenedByCredential.Remove(key);
            }
        }
    }

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

    /// <summary>How many credentials hold a stream slot or listened interests (entries are dropped at zero).</summary>
    public (int Streams, int Listening) CredentialsTracked
    {
        get
        {
            lock (_lock)
            {
                return (_perCredential.Count, _listenedByCredential.Count);
            }
        }
    }

    private static string CredentialKey(string tenant, string credential) => tenant + "\n" + credential;

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
