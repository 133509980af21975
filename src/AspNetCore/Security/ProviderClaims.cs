using System.Security.Claims;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// Turns the claims of an OpenID Connect provider's token into the hub's own: <c>tenant</c> from the provider's bound
/// tenant or its tenant claim, <c>tags</c> from its tags claim (only the entries with its prefix, read without it). The
/// token's own <c>tenant</c> and <c>tags</c> claims count only where they are the configured sources, so a token cannot
/// name its tenant or scope in claims the hub was not told to read. Every other claim (<c>scope</c>, <c>exp</c>, …) stays.
/// </summary>
internal static class ProviderClaims
{
    public static ClaimsPrincipal Map(ClaimsPrincipal principal, TokenAuthority authority)
    {
        var source = principal.Identity as ClaimsIdentity ?? new ClaimsIdentity();
        var claims = source.Claims
            .Where(c => c.Type is not CountCachulaAccess.TenantClaim and not CountCachulaAccess.TagsClaim)
            .Select(c => new Claim(c.Type, c.Value, c.ValueType, c.Issuer, c.OriginalIssuer))
            .ToList();

        var tenant = authority.Tenant
            ?? source.FindAll(authority.TenantClaim).Select(c => c.Value).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));
        if (tenant is not null)
        {
            claims.Add(new Claim(CountCachulaAccess.TenantClaim, tenant));
        }

        var patterns = new List<string>();
        foreach (var entry in source.FindAll(authority.TagsClaim).SelectMany(c => c.Value.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries)))
        {
            if (authority.TagsPrefix.Length == 0)
            {
                patterns.Add(entry);
            }
            else if (entry.Length > authority.TagsPrefix.Length && entry.StartsWith(authority.TagsPrefix, StringComparison.Ordinal))
            {
                patterns.Add(entry[authority.TagsPrefix.Length..]);
            }
        }

        if (patterns.Count > 0)
        {
            claims.Add(new Claim(CountCachulaAccess.TagsClaim, string.Join(' ', patterns)));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, source.AuthenticationType, source.NameClaimType, source.RoleClaimType));
    }
}
