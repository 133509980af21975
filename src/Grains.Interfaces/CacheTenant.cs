namespace CountCachula;

/// <summary>Tenant ids: the key of <see cref="ICacheHubGrain"/>.</summary>
public static class CacheTenant
{
    /// <summary>The tenant of single-tenant applications.</summary>
    public const string Default = "default";

    /// <summary>The longest tenant id accepted.</summary>
    public const int MaxLength = 64;

    /// <summary>
    /// Returns null when <paramref name="tenant"/> is a usable id (1–64 of <c>A–Z a–z 0–9 - _ .</c>), else why not.
    /// The restricted alphabet keeps topic keys (<c>{tenant}/{tag}</c>) unambiguous.
    /// </summary>
    public static string? Validate(string? tenant)
    {
        if (string.IsNullOrEmpty(tenant))
        {
            return "The tenant id is empty.";
        }

        if (tenant.Length > MaxLength)
        {
            return $"The tenant id is longer than {MaxLength} characters.";
        }

        foreach (var c in tenant)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return "The tenant id may contain only ASCII letters, digits, '-', '_' and '.'.";
            }
        }

        return null;
    }
}
