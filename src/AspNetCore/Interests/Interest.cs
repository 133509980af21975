namespace CountCachula.AspNetCore.Interests;

/// <summary>
/// One thing a connection listens for: an exact tag (<c>user:123</c>), a prefix pattern (<c>posts:*</c> matches
/// every tag starting with <c>posts:</c>) or everything (<c>*</c>).
/// </summary>
public readonly record struct Interest(InterestKind Kind, string Value)
{
    /// <summary>Everything.</summary>
    public static Interest All { get; } = new(InterestKind.All, "*");

    /// <summary>The interest as written by the client.</summary>
    public override string ToString() => Kind switch
    {
        InterestKind.All => "*",
        InterestKind.Prefix => Value + "*",
        _ => Value,
    };

    /// <summary>Reads one interest; only a trailing <c>*</c> is a wildcard.</summary>
    public static bool TryParse(string text, out Interest interest, out string? problem)
    {
        interest = default;
        if (CacheInput.Check([text], "tags") is { } error)
        {
            problem = error.Message;
            return false;
        }

        var star = text.IndexOf('*');
        if (star >= 0 && star != text.Length - 1)
        {
            problem = $"'{text}' has a '*' that is not at its end; only trailing wildcards ('posts:*') are supported.";
            return false;
        }

        problem = null;
        interest = text == "*" ? All : star < 0 ? new(InterestKind.Exact, text) : new(InterestKind.Prefix, text[..^1]);
        return true;
    }
}

/// <summary>How an <see cref="Interest"/> matches tags.</summary>
public enum InterestKind
{
    /// <summary>One tag, compared exactly.</summary>
    Exact,

    /// <summary>Every tag that starts with the value.</summary>
    Prefix,

    /// <summary>Every tag.</summary>
    All,
}
