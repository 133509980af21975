using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Hosting;

/// <summary>Checks the delivery settings of <see cref="CountCachulaOptions"/> at start-up, naming each bad key.</summary>
internal sealed class DeliveryOptionsValidator : IValidateOptions<CountCachulaOptions>
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

        Check(options.SubscribeTimeout >= TimeSpan.FromMilliseconds(100) && options.SubscribeTimeout <= TimeSpan.FromMinutes(1), nameof(options.SubscribeTimeout), $"must be between 00:00:00.100 and 00:01:00 (got {options.SubscribeTimeout})");
        Check(options.UnavailableRetry >= TimeSpan.Zero && options.UnavailableRetry <= TimeSpan.FromMinutes(1), nameof(options.UnavailableRetry), $"must be between 00:00:00 and 00:01:00 (got {options.UnavailableRetry})");
        Check(options.InboxCheckInterval >= TimeSpan.FromMilliseconds(100) && options.InboxCheckInterval <= TimeSpan.FromMinutes(10), nameof(options.InboxCheckInterval), $"must be between 00:00:00.100 and 00:10:00 (got {options.InboxCheckInterval})");
        Check(options.RecoveryWindow >= TimeSpan.FromSeconds(1) && options.RecoveryWindow <= TimeSpan.FromHours(1), nameof(options.RecoveryWindow), $"must be between 00:00:01 and 01:00:00 (got {options.RecoveryWindow})");
        Check(options.MaxListenedTagsPerTenant is >= 1 and <= 10_000_000, nameof(options.MaxListenedTagsPerTenant), $"must be between 1 and 10000000 (got {options.MaxListenedTagsPerTenant})");
        Check(options.MaxConnectionsPerCredential >= 0, nameof(options.MaxConnectionsPerCredential), $"must be 0 (no limit) or more (got {options.MaxConnectionsPerCredential})");
        Check(options.MaxListenedTagsPerCredential >= 0, nameof(options.MaxListenedTagsPerCredential), $"must be 0 (no limit) or more (got {options.MaxListenedTagsPerCredential})");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
