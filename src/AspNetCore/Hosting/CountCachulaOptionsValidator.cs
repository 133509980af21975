using CountCachula.AspNetCore.Security;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Hosting;

/// <summary>
/// Checks <see cref="CountCachulaOptions"/> at start-up and names each bad setting by its configuration key, so the
/// message says exactly what to fix (<c>CountCachula:HeartbeatInterval</c>, not "HeartbeatInterval is invalid").
/// </summary>
internal sealed class CountCachulaOptionsValidator : IValidateOptions<CountCachulaOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, CountCachulaOptions options)
    {
        var failures = new List<string>();
        void Check(bool ok, string key, string rule)
        {
            if (!ok)
            {
                failures.Add($"{CountCachulaOptions.SectionName}:{key} {rule}.");
            }
        }

        Check(CacheTenant.Validate(options.DefaultTenant) is null, nameof(options.DefaultTenant), "must be a tenant id: 1-64 of A-Z a-z 0-9 - _ .");
        Check(options.HeartbeatInterval >= TimeSpan.FromMilliseconds(10) && options.HeartbeatInterval <= TimeSpan.FromHours(1), nameof(options.HeartbeatInterval), $"must be between 00:00:00.010 and 01:00:00 (got {options.HeartbeatInterval})");
        Check(options.Retry >= TimeSpan.Zero && options.Retry <= TimeSpan.FromMinutes(10), nameof(options.Retry), $"must be between 00:00:00 and 00:10:00 (got {options.Retry})");
        Check(options.DrainWindow >= TimeSpan.Zero && options.DrainWindow <= TimeSpan.FromMinutes(1), nameof(options.DrainWindow), $"must be between 00:00:00 and 00:01:00 (got {options.DrainWindow})");
        Check(options.RetryJitter >= TimeSpan.Zero && options.RetryJitter <= TimeSpan.FromMinutes(10), nameof(options.RetryJitter), $"must be between 00:00:00 and 00:10:00 (got {options.RetryJitter})");
        Check(options.ConnectionQueueCapacity is >= 16 and <= 1_000_000, nameof(options.ConnectionQueueCapacity), $"must be between 16 and 1000000 (got {options.ConnectionQueueCapacity})");
        Check(options.ConnectionQueueBytes is >= 64 * 1024 and <= 1024L * 1024 * 1024, nameof(options.ConnectionQueueBytes), $"must be between 65536 and 1073741824 (got {options.ConnectionQueueBytes})");
        Check(options.SlowReaderGrace >= TimeSpan.FromMilliseconds(100) && options.SlowReaderGrace <= TimeSpan.FromMinutes(10), nameof(options.SlowReaderGrace), $"must be between 00:00:00.100 and 00:10:00 (got {options.SlowReaderGrace})");
        Check(options.UnsubscribeGrace >= TimeSpan.Zero && options.UnsubscribeGrace <= TimeSpan.FromMinutes(10), nameof(options.UnsubscribeGrace), $"must be between 00:00:00 and 00:10:00 (got {options.UnsubscribeGrace})");
        for (var i = 0; i < options.AllowedOrigins.Length; i++)
        {
            var origin = options.AllowedOrigins[i];
            Check(origin == "*" || (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.AbsolutePath == "/" && !origin.EndsWith('/')),
                $"{nameof(options.AllowedOrigins)}:{i}", $"must be an origin such as https://app.example.com (scheme and host, no path) or * (got '{origin}')");
        }

        Check(options.MaxConnectionsPerTenant >= 0, nameof(options.MaxConnectionsPerTenant), $"must be 0 (no limit) or positive (got {options.MaxConnectionsPerTenant})");
        Check(options.MaxConnectionsPerIp >= 0, nameof(options.MaxConnectionsPerIp), $"must be 0 (no limit) or positive (got {options.MaxConnectionsPerIp})");
        Check(options.MaxRequestBodyBytes is >= 1024 and <= 100 * 1024 * 1024, nameof(options.MaxRequestBodyBytes), $"must be between 1024 and 104857600 (got {options.MaxRequestBodyBytes})");
        Check(options.MaxCustomEventBytes is >= 1 and <= 1024 * 1024, nameof(options.MaxCustomEventBytes), $"must be between 1 and 1048576 (got {options.MaxCustomEventBytes})");
        for (var i = 0; i < options.Tenants.Length; i++)
        {
            Check(CacheTenant.Validate(options.Tenants[i]) is null, $"{nameof(options.Tenants)}:{i}", $"must be a tenant id: 1-64 of A-Z a-z 0-9 - _ . (got '{options.Tenants[i]}')");
        }

        Check(options.Metrics.MaxTenantLabels is >= 0 and <= 10_000, "Metrics:MaxTenantLabels", $"must be between 0 and 10000 (got {options.Metrics.MaxTenantLabels})");
        Check(options.Dashboard.MaxSnapshotBytes is >= 4096 and <= 16 * 1024 * 1024, "Dashboard:MaxSnapshotBytes", $"must be between 4096 and 16777216 (got {options.Dashboard.MaxSnapshotBytes})");
        var auth = options.Auth;
        if (auth.IsEnabled)
        {
            var authorities = TokenAuthorities.Resolve(auth);
            Check(!string.IsNullOrEmpty(auth.SigningKey) || authorities.Count > 0, "Auth:SigningKey",
                "is required: authentication is on (the default outside Development), so tokens need a signing key of at least 32 bytes or an OpenID Connect provider (CountCachula:Auth:Authority); set one of them, or set CountCachula:Auth:Enabled=false to run without credentials");
            Check(string.IsNullOrEmpty(auth.SigningKey) || System.Text.Encoding.UTF8.GetByteCount(auth.SigningKey) >= 32, "Auth:SigningKey",
                "must be at least 32 bytes (HMAC-SHA256 needs a 256-bit key)");
            ValidateAuthorities(auth, authorities, options.Tenants, Check);
            for (var i = 0; i < auth.ApiKeys.Count; i++)
            {
                Check(auth.ApiKeys[i].Key.Length >= 16, $"Auth:ApiKeys:{i}:Key", "must be at least 16 characters");
                Check(CacheTenant.Validate(auth.ApiKeys[i].Tenant) is null, $"Auth:ApiKeys:{i}:Tenant", "must be a tenant id: 1-64 of A-Z a-z 0-9 - _ .");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>The OpenID Connect providers: a usable address, an audience, and tenants and claims that can be read.</summary>
    private static void ValidateAuthorities(CountCachulaAuthOptions auth, IReadOnlyList<TokenAuthority> authorities, string[] tenants, Action<bool, string, string> check)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var authority in authorities)
        {
            var key = authority.Key;
            var url = Uri.TryCreate(authority.Url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Query.Length == 0 && uri.Fragment.Length == 0 ? uri : null;
            check(url is not null, $"{key}:Authority", $"must be the provider's issuer URL, such as https://login.example.com/realms/acme (got '{authority.Url}')");
            check(url is null || url.Scheme == "https" || !auth.RequireHttpsMetadata, $"{key}:Authority",
                $"must use https (got '{authority.Url}'); for a provider on plain http in development set CountCachula:Auth:RequireHttpsMetadata=false");
            check(url is null || seen.Add(authority.Url.TrimEnd('/')), $"{key}:Authority", $"names a provider configured already ('{authority.Url}')");
            check(!string.IsNullOrWhiteSpace(authority.Audience), key == "Auth" ? "Auth:Audience" : $"{key}:Audience",
                (key == "Auth" ? "is required with CountCachula:Auth:Authority" : "is required (or CountCachula:Auth:Audience for every provider)")
                + ": without one, a token the provider issued for any other application would be accepted; set it to the audience (aud) the provider writes into tokens for this hub");
            if (authority.Tenant is { } tenant)
            {
                check(CacheTenant.Validate(tenant) is null, $"{key}:Tenant", $"must be a tenant id: 1-64 of A-Z a-z 0-9 - _ . (got '{tenant}')");
                check(tenants.Length == 0 || tenants.Contains(tenant, StringComparer.Ordinal), $"{key}:Tenant", $"must be one of CountCachula:Tenants (got '{tenant}')");
            }

            check(!string.IsNullOrWhiteSpace(authority.TenantClaim), key == "Auth" ? "Auth:TenantClaim" : $"{key}:TenantClaim", "must name a claim");
            check(!string.IsNullOrWhiteSpace(authority.TagsClaim), key == "Auth" ? "Auth:TagsClaim" : $"{key}:TagsClaim", "must name a claim");
            check(!authority.TagsPrefix.Any(char.IsWhiteSpace), key == "Auth" ? "Auth:TagsPrefix" : $"{key}:TagsPrefix", $"must not contain spaces (got '{authority.TagsPrefix}')");
        }
    }
}
