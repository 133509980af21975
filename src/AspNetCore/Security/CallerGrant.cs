using CountCachula.AspNetCore.Interests;

namespace CountCachula.AspNetCore.Security;

/// <summary>What an admitted caller may do: its tenant, the tag patterns it may listen to, until when.</summary>
/// <param name="Tenant">The tenant the caller belongs to.</param>
/// <param name="Patterns">
/// The interests it may hold. Empty grants nothing: a token reaches all of its tenant's tags only when its scope says
/// <c>*</c> (<see cref="Interest.All"/>) explicitly. With auth off every caller gets <c>*</c>.
/// </param>
/// <param name="ExpiresAtUtc">When its credential stops being valid; null for none.</param>
public sealed record CallerGrant(string Tenant, IReadOnlyList<Interest> Patterns, DateTime? ExpiresAtUtc)
{
    /// <summary>
    /// Who holds the credential, for the per-credential shares of a tenant's limits: the token's subject (with its
    /// issuer), or the token itself when it names no subject. Null with auth off, where only the per-address and
    /// per-tenant limits apply.
    /// </summary>
    public string? Credential { get; init; }

    /// <summary>True when <paramref name="requested"/> lies inside what the grant allows.</summary>
    public bool Allows(Interest requested) => Patterns.Any(allowed => Covers(allowed, requested));

    private static bool Covers(Interest allowed, Interest requested)
    {
        return allowed.Kind switch
        {
            InterestKind.All => true,
            InterestKind.Exact => requested.Kind == InterestKind.Exact && requested.Value == allowed.Value,

            // A prefix pattern covers its exact tags and every narrower prefix pattern.
            _ => requested.Kind != InterestKind.All && requested.Value.StartsWith(allowed.Value, StringComparison.Ordinal),
        };
    }
}
