using System.Collections.Concurrent;

namespace CountCachula.Runtime.Metrics;

/// <summary>
/// The value of the <c>tenant</c> label on the <c>countcachula</c> instruments: the first <see cref="Limit"/> tenants a
/// process sees keep their own name, every later one is reported as <see cref="Other"/>. Each label value is a time
/// series an exporter keeps for the life of the process, so a hub with many tenants (or an attacker naming new ones)
/// would otherwise grow them without end and hit the exporter's cardinality limit, silently losing series.
/// </summary>
internal sealed class TenantLabels
{
    /// <summary>The label of every tenant beyond the first <see cref="Limit"/>.</summary>
    public const string Other = "other";

    /// <summary>The configuration key of the limit (both the frontend and the hub read it).</summary>
    public const string LimitKey = "CountCachula:Metrics:MaxTenantLabels";

    /// <summary>The limit when none is configured.</summary>
    public const int DefaultLimit = 100;

    private readonly ConcurrentDictionary<string, string> _named = new(StringComparer.Ordinal);
    private int _count;

    /// <param name="limit">How many tenants keep their own label; 0 reports every tenant as <see cref="Other"/>.</param>
    public TenantLabels(int limit = DefaultLimit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        Limit = limit;
    }

    /// <summary>How many tenants keep their own label.</summary>
    public int Limit { get; }

    /// <summary>The label for <paramref name="tenant"/>: its name while it is among the first <see cref="Limit"/> seen, else <see cref="Other"/>.</summary>
    public string For(string tenant)
    {
        if (_named.TryGetValue(tenant, out var label))
        {
            return label;
        }

        // A slot is claimed before the name is added, so concurrent newcomers never push the count past the limit.
        if (Interlocked.Increment(ref _count) > Limit)
        {
            Interlocked.Decrement(ref _count);
            return Other;
        }

        if (!_named.TryAdd(tenant, tenant))
        {
            // Another thread named it first; give the slot back.
            Interlocked.Decrement(ref _count);
        }

        return tenant;
    }
}
