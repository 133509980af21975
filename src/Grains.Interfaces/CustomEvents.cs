namespace CountCachula;

/// <summary>The rules for custom event names and data (the specification's <c>broadcast(name, data)</c>).</summary>
public static class CustomEvents
{
    /// <summary>The longest event name accepted.</summary>
    public const int MaxNameLength = 64;

    /// <summary>The largest data accepted, in UTF-16 code units.</summary>
    public const int MaxDataLength = 64 * 1024;

    /// <summary>
    /// Names the hub itself sends. A custom event may not use them, so no application can forge an invalidation or
    /// a heartbeat through the custom-event API.
    /// </summary>
    public static readonly IReadOnlySet<string> ReservedNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "connected", "invalidate", "preload-hint", "preload", "heartbeat", "reset", "message", "error", "open", "expired", "auth-expired",
    };

    /// <summary>Null when <paramref name="name"/> and <paramref name="data"/> are acceptable, else the problem.</summary>
    public static CacheInputError? Check(string? name, string? data)
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

        if (data.Length > MaxDataLength)
        {
            return new("data", $"The data is {data.Length} characters long; at most {MaxDataLength} are accepted.");
        }

        if (data.AsSpan().IndexOfAny('\r', '\0') >= 0)
        {
            return new("data", "The data contains CR or NUL; separate lines with LF only.");
        }

        return null;
    }
}
