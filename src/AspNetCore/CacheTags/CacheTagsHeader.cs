using CountCachula.AspNetCore.Sse;
namespace CountCachula.AspNetCore.CacheTags;

/// <summary>
/// The <c>Cache-Tags</c> response header as <c>@countcachula/core</c> reads it: tags joined by commas, which it splits
/// on <c>,</c> and trims, then compares literally with the tags of <c>invalidate</c> events.
/// </summary>
internal static class CacheTagsHeader
{
    /// <summary>The header's name.</summary>
    public const string Name = "Cache-Tags";

    /// <summary>
    /// Joins <paramref name="tags"/> by commas, each spelled as the hub's <c>invalidate</c> events spell it (a
    /// <c>%</c> as <c>%25</c>, a <c>,</c> as <c>%2C</c>) so the client's literal comparison matches, and <c>*</c> appended when <paramref name="includeAll"/> is set: the client has
    /// no wildcard of its own, so only responses that list <c>*</c> are cleared by the hub's <c>reset</c> +
    /// <c>invalidate *</c>.
    /// </summary>
    public static string Format(IReadOnlyList<string> tags, bool includeAll)
    {
        var parts = tags.Select(SseFrame.EncodeTag).ToList();
        if (includeAll && !parts.Contains("*"))
        {
            parts.Add("*");
        }

        return string.Join(',', parts);
    }

    /// <summary>Null when <paramref name="tag"/> can travel in the header and match an event, else why not.</summary>
    public static string? Problem(string? tag)
    {
        if (CacheInput.Check([tag], "tags") is { } invalid)
        {
            return invalid.Message;
        }

        foreach (var c in tag!)
        {
            // HTTP header values are bytes the browser reads as Latin-1, while events arrive as UTF-8: outside printable
            // ASCII the two spellings would never compare equal, and Kestrel refuses control characters in headers.
            if (c is < ' ' or > '~')
            {
                return "is not printable ASCII; a Cache-Tags header carries ASCII only (percent-encode the value, and publish the same spelling)";
            }
        }

        // The client trims what it splits, so surrounding spaces would make a tag it cannot match.
        return tag[0] == ' ' || tag[^1] == ' ' ? "starts or ends with a space, which the client trims away" : null;
    }
}
