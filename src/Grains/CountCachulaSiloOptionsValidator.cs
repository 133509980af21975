using Microsoft.Extensions.Options;

namespace CountCachula.Grains;

/// <summary>Checks <see cref="CountCachulaSiloOptions"/> when the silo starts; every problem is named by its key.</summary>
internal sealed class CountCachulaSiloOptionsValidator : IValidateOptions<CountCachulaSiloOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, CountCachulaSiloOptions options)
    {
        var failures = new List<string>();
        void Check(bool ok, string key, string rule)
        {
            if (!ok)
            {
                failures.Add($"{CountCachulaSiloOptions.SectionName}:{key} {rule}.");
            }
        }

        Check(options.StreamPollInterval > TimeSpan.Zero, nameof(options.StreamPollInterval), $"must be positive (got {options.StreamPollInterval})");
        Check(options.StreamQueueCount >= 1, nameof(options.StreamQueueCount), $"must be at least 1 (got {options.StreamQueueCount})");
        Check(options.HistoryMaxEvents >= 1, nameof(options.HistoryMaxEvents), $"must be at least 1 (got {options.HistoryMaxEvents})");
        Check(options.HistorySegmentSize >= 1, nameof(options.HistorySegmentSize), $"must be at least 1 (got {options.HistorySegmentSize})");
        Check(options.HistoryMaxAge > TimeSpan.Zero, nameof(options.HistoryMaxAge), $"must be positive (got {options.HistoryMaxAge})");
        Check(options.HistoryMaxBytes >= 64 * 1024, nameof(options.HistoryMaxBytes), $"must be at least 65536 (got {options.HistoryMaxBytes})");
        Check(options.IdempotencyWindow >= TimeSpan.Zero, nameof(options.IdempotencyWindow), $"must not be negative (got {options.IdempotencyWindow})");
        Check(options.IdempotencyMaxKeys >= 0, nameof(options.IdempotencyMaxKeys), $"must not be negative (got {options.IdempotencyMaxKeys})");
        Check(options.RouteTimeout > TimeSpan.Zero, nameof(options.RouteTimeout), $"must be positive (got {options.RouteTimeout})");
        Check(options.ClientListenerLease >= TimeSpan.FromMinutes(5), nameof(options.ClientListenerLease), $"must be at least 00:05:00 (got {options.ClientListenerLease})");
        Check(options.RerouteOnActivation >= TimeSpan.Zero, nameof(options.RerouteOnActivation), $"must not be negative (got {options.RerouteOnActivation})");
        Check(options.IdleGrainCollectionAge > TimeSpan.FromMinutes(1), nameof(options.IdleGrainCollectionAge), $"must be more than one minute, Orleans' collection quantum (got {options.IdleGrainCollectionAge})");
        Check(options.MaxCustomEventBytes is >= 1 and <= 1024 * 1024, nameof(options.MaxCustomEventBytes), $"must be between 1 and 1048576 (got {options.MaxCustomEventBytes})");
        Check(options.DefaultDebounceWindow >= TimeSpan.Zero, nameof(options.DefaultDebounceWindow), $"must not be negative (got {options.DefaultDebounceWindow})");
        foreach (var (tenant, window) in options.DebounceWindows)
        {
            Check(window >= TimeSpan.Zero, $"{nameof(options.DebounceWindows)}:{tenant}", $"must not be negative (got {window})");
        }

        return failures.Count > 0 ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}
