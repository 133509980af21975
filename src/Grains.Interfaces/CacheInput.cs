using System.Text;

namespace CountCachula;

/// <summary>
/// The rules every tag and route obeys before it enters the hub. They keep SSE framing intact (no CR, LF or NUL) and
/// bound the work one call can cause. Commas are allowed: the JSON format carries them as they are, and the default
/// comma-joined format percent-encodes them (see <c>docs/security.md</c>, "Commas"). Entries of a field named
/// <see cref="RoutesField"/> must also be same-origin relative paths, because browsers fetch them as they are.
/// </summary>
public static class CacheInput
{
    /// <summary>The longest tag or route accepted, in UTF-16 code units.</summary>
    public const int MaxItemLength = 256;

    /// <summary>The most tags or routes accepted in one call.</summary>
    public const int MaxItemsPerCall = 1000;

    /// <summary>
    /// The field name of preload routes: its entries must start with a single <c>/</c> and hold no control character
    /// and no leading or trailing space, so a hint can never send a browser to another origin (<c>//evil.example</c>,
    /// <c>/\evil.example</c>, <c>/&lt;TAB&gt;/evil.example</c>, <c>https://…</c>) or run script (<c>javascript:</c>).
    /// </summary>
    public const string RoutesField = "routes";

    /// <summary>
    /// Returns null when every item of <paramref name="items"/> is acceptable, else the first problem, keyed by the
    /// offending position (e.g. <c>tags[3]</c>) so an HTTP caller can be told exactly what to fix.
    /// </summary>
    /// <param name="items">The tags or routes.</param>
    /// <param name="field">The name the caller knows them by: <c>tags</c> or <c>routes</c>.</param>
    public static CacheInputError? Check(IReadOnlyList<string?>? items, string field)
    {
        if (items is null || items.Count == 0)
        {
            return new(field, $"At least one entry is required in '{field}'.");
        }

        if (items.Count > MaxItemsPerCall)
        {
            return new(field, $"'{field}' has {items.Count} entries; at most {MaxItemsPerCall} are accepted per call.");
        }

        for (var i = 0; i < items.Count; i++)
        {
            var problem = CheckItem(items[i]) ?? (field == RoutesField ? CheckRoute(items[i]!) : null);
            if (problem is not null)
            {
                return new($"{field}[{i}]", $"{field}[{i}] {problem}: {Describe(items[i])}.");
            }
        }

        return null;
    }

    /// <summary>Throws <see cref="ArgumentException"/> when <see cref="Check"/> finds a problem.</summary>
    public static void ThrowIfInvalid(IReadOnlyList<string?>? items, string field)
    {
        var error = Check(items, field);
        if (error is not null)
        {
            throw new ArgumentException(error.Message, field);
        }
    }

    /// <summary>The items in their first-seen order with repeats removed.</summary>
    public static string[] Distinct(IReadOnlyList<string> items)
    {
        if (items.Count == 1)
        {
            return [items[0]];
        }

        var seen = new HashSet<string>(items.Count, StringComparer.Ordinal);
        var result = new List<string>(items.Count);
        foreach (var item in items)
        {
            if (seen.Add(item))
            {
                result.Add(item);
            }
        }

        return [.. result];
    }

    private static string? CheckItem(string? item)
    {
        if (string.IsNullOrEmpty(item))
        {
            return "is empty";
        }

        if (item.Length > MaxItemLength)
        {
            return $"is {item.Length} characters long; at most {MaxItemLength} are accepted";
        }

        for (var i = 0; i < item.Length; i++)
        {
            var c = item[i];
            if (c is '\r' or '\n' or '\0')
            {
                return "contains CR, LF or NUL, which would break SSE framing";
            }

            if (c == '\uFFFD')
            {
                // What a decoder leaves for bytes that are not UTF-8: the tag the caller meant was lost on the way.
                return "contains U+FFFD (the request carried bytes that are not valid UTF-8)";
            }

            if (char.IsSurrogate(c))
            {
                // A lone surrogate cannot be encoded as UTF-8, so it could never reach a browser intact.
                if (!char.IsHighSurrogate(c) || i + 1 >= item.Length || !char.IsLowSurrogate(item[i + 1]))
                {
                    return "is not valid UTF-16 (a lone surrogate)";
                }

                i++;
            }
        }

        return null;
    }

    /// <summary>
    /// Checks a route the way a browser's URL parser (WHATWG) will read it against the page's origin: that parser drops
    /// tabs and newlines anywhere, trims leading and trailing spaces and controls, and reads <c>\</c> as <c>/</c>,
    /// so <c>"/\t/evil.example"</c>, <c>" //evil.example"</c> and <c>"/\\evil.example"</c> all leave the origin.
    /// Any control character is refused outright (none belongs in a path), then what remains must start with exactly
    /// one slash once backslashes are read as slashes.
    /// </summary>
    private static string? CheckRoute(string route)
    {
        foreach (var c in route)
        {
            if (char.IsControl(c))
            {
                return "contains a control character (browsers drop tabs and newlines when they resolve a URL, which can change its origin)";
            }
        }

        if (route[0] == ' ' || route[^1] == ' ')
        {
            return "starts or ends with a space (browsers trim them when they resolve a URL, which can change its origin)";
        }

        return route[0] != '/' || (route.Length > 1 && route[1] is '/' or '\\')
            ? "must be a relative path starting with a single '/' (absolute URLs, '//host' and schemes such as 'javascript:' are refused)"
            : null;
    }

    /// <summary>Quotes a value for an error message with control characters made visible and its length bounded.</summary>
    private static string Describe(string? item)
    {
        if (item is null)
        {
            return "null";
        }

        var builder = new StringBuilder(Math.Min(item.Length, 80) + 8).Append('"');
        foreach (var c in item.Length > 64 ? item[..64] : item)
        {
            builder.Append(c switch
            {
                '\r' => "\\r",
                '\n' => "\\n",
                '\0' => "\\0",
                '"' => "\\\"",
                _ when char.IsControl(c) || char.IsSurrogate(c) => $"\\u{(int)c:X4}",
                _ => c.ToString(),
            });
        }

        builder.Append('"');
        if (item.Length > 64)
        {
            builder.Append($"… ({item.Length} characters)");
        }

        return builder.ToString();
    }
}

/// <summary>What is wrong with a call's tags or routes, and where.</summary>
/// <param name="Key">The offending field or position, e.g. <c>tags[3]</c>.</param>
/// <param name="Message">A sentence naming the problem and the offending value.</param>
public sealed record CacheInputError(string Key, string Message);
