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
        Check(options.RetryMilliseconds is >= 0 and <= 600_000, nameof(options.RetryMilliseconds), $"must be between 0 and 600000 (got {options.RetryMilliseconds})");
        Check(options.RetryJitterMilliseconds is >= 0 and <= 600_000, nameof(options.RetryJitterMilliseconds), $"must be between 0 and 600000 (got {options.RetryJitterMilliseconds})");
        Check(options.ConnectionQueueCapacity is >= 16 and <= 1_000_000, nameof(options.ConnectionQueueCapacity), $"must be between 16 and 1000000 (got {options.ConnectionQueueCapacity})");
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
        for (var i = 0; i < options.Tenants.Length; i++)
        {
            Check(CacheTenant.Validate(options.Tenants[i]) is null, $"{nameof(options.Tenants)}:{i}", $"must be a tenant id: 1-64 of A-Z a-z 0-9 - _ . (got '{options.Tenants[i]}')");
        }

        Check(options.Metrics.MaxTenantLabels is >= 0 and <= 10_000, "Metrics:MaxTenantLabels", $"must be between 0 and 10000 (got {options.Metrics.MaxTenantLabels})");
        Check(options.Dashboard.MaxSnapshotBytes is >= 4096 and <= 16 * 1024 * 1024, "Dashboard:MaxSnapshotBytes", $"must be between 4096 and 16777216 (got {options.Dashboard.MaxSnapshotBytes})");
        var auth = options.Auth;
        if (auth.IsEnabled)
        {
            Check(!string.IsNullOrEmpty(auth.SigningKey), "Auth:SigningKey",
                "is required: authentication is on (the default outside Development), so tokens need a signing key of at least 32 bytes; set it, or set CountCachula:Auth:Enabled=false to run without credentials");
            Check(string.IsNullOrEmpty(auth.SigningKey) || System.Text.Encoding.UTF8.GetByteCount(auth.SigningKey) >= 32, "Auth:SigningKey",
                "must be at least 32 bytes (HMAC-SHA256 needs a 256-bit key)");
            for (var i = 0; i < auth.ApiKeys.Count; i++)
            {
                Check(auth.ApiKeys[i].Key.Length >= 16, $"Auth:ApiKeys:{i}:Key", "must be at least 16 characters");
                Check(CacheTenant.Validate(auth.ApiKeys[i].Tenant) is null, $"Auth:ApiKeys:{i}:Tenant", "must be a tenant id: 1-64 of A-Z a-z 0-9 - _ .");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
