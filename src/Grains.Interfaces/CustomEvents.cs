namespace CountCachula;

/// <summary>The rules for custom event names and data (<see cref="ICacheHubGrain.Broadcast"/>).</summary>
public static class CustomEvents
{
    /// <summary>The longest event name accepted.</summary>
    public const int MaxNameLength = 64;

    /// <summary>
    /// The default cap on a custom event's data, in bytes of UTF-8 (64 KiB). The hub's cap is
    /// <c>CountCachula:Hub:MaxCustomEventBytes</c>, the HTTP publishing endpoint's <c>CountCachula:MaxCustomEventBytes</c>.
    /// </summary>
    public const int DefaultMaxDataBytes = 64 * 1024;

    /// <summary>The former cap, in UTF-16 code units; the cap is now in bytes of UTF-8 and configurable.</summary>
    [Obsolete("The cap is in bytes of UTF-8 now, and configurable: see DefaultMaxDataBytes.")]
    public const int MaxDataLength = DefaultMaxDataBytes;

    /// <summary>
    /// Names the hub itself sends. A custom event may not use them, so no application can forge an invalidation or
    /// a heartbeat through the custom-event API.
    /// </summary>
    public static readonly IReadOnlySet<string> ReservedNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "connected", "invalidate", "preload-hint", "preload", "heartbeat", "reset", "message", "error", "open", "expired", "auth-expired",
    };

    /// <summary>
    /// Null when <paramref name="name"/> and <paramref name="data"/> are acceptable with data of at most
    /// <see cref="DefaultMaxDataBytes"/>, else the problem.
    /// </summary>
    public static CacheInputError? Check(string? name, string? data) => Check(name, data, DefaultMaxDataBytes);

    /// <summary>
    /// Null when <paramref name="name"/> and <paramref name="data"/> are acceptable with data of at most
    /// <paramref name="maxDataBytes"/> bytes of UTF-8, else the problem.
    /// </summary>
    public static CacheInputError? Check(string? name, string? data, int maxDataBytes)
    {
        if (string.IsNullOrEmpty(name))
        {
            return new("eventName", "The event name is empty.");
        }

        if (name.Length > MaxNameLength)
        {
            return new("eventName", $"The event name is {name.Length} characters long; at most {MaxNameLength} are accepted.");
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
            {
                return new("eventName", $"The event name may contain only ASCII letters, digits, '-', '_', '.' and ':' (got {(int)c:X4}).");
            }
        }

        if (ReservedNames.Contains(name))
        {
            return new("eventName", $"'{name}' is a name the hub sends itself; choose another so clients cannot mistake it for one of the hub's events.");
        }

        if (data is null)
        {
            return new("data", "The data is null; send an empty string for no data.");
        }

        if (TooLarge(data, maxDataBytes) is { } bytes)
        {
            return new("data", $"The data is {bytes} bytes of UTF-8; at most {maxDataBytes} are accepted.");
        }

        if (data.AsSpan().IndexOfAny('\r', '\0') >= 0)
        {
            return new("data", "The data contains CR or NUL; separate lines with LF only.");
        }

        return null;
    }

    /// <summary>The size of <paramref name="data"/> in bytes of UTF-8 when it is over <paramref name="maxDataBytes"/>; else null.</summary>
    public static int? TooLarge(string data, int maxDataBytes)
    {
        ArgumentNullException.ThrowIfNull(data);

        // No character takes more than 3 bytes of UTF-8 (a surrogate pair takes 4 for two), and none less than 1.
        if ((long)data.Length * 3 <= maxDataBytes)
        {
            return null;
        }

        if (data.Length > maxDataBytes)
        {
            return System.Text.Encoding.UTF8.GetByteCount(data);
        }

        var bytes = System.Text.Encoding.UTF8.GetByteCount(data);
        return bytes > maxDataBytes ? bytes : null;
    }
}
