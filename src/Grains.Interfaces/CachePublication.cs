namespace CountCachula;

/// <summary>
/// One publish call: an invalidation, a preload hint or a custom event, with an optional idempotency key. A publish
/// carrying a key the hub accepted within its idempotency window is not published again: the hub answers with the
/// original event's sequence, so a publisher can retry after any error without the event going out twice.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record CachePublication
{
    /// <summary>What the event tells the browser.</summary>
    [Id(0)] public required CacheEventKind Kind { get; init; }

    /// <summary>The tags to invalidate or routes to hint; empty for custom events.</summary>
    [Id(1)] public required IReadOnlyList<string> Items { get; init; }

    /// <summary>For hints and custom events: who receives it (null: everyone of the tenant).</summary>
    [Id(2)] public IReadOnlyList<string>? ScopeTags { get; init; }

    /// <summary>For custom events: the SSE event name.</summary>
    [Id(3)] public string? EventName { get; init; }

    /// <summary>For custom events: the data.</summary>
    [Id(4)] public string? Data { get; init; }

    /// <summary>The publisher's key for this publish (see <see cref="IdempotencyKeys"/>), or null.</summary>
    [Id(5)] public string? IdempotencyKey { get; init; }

    /// <summary>
    /// For hints and custom events without <see cref="ScopeTags"/>: true lets every stream of the tenant receive it.
    /// Left false, an unscoped event reaches only the streams whose credential was granted every tag (<c>*</c>), so a
    /// token limited to some tags never sees data nobody addressed to it.
    /// </summary>
    [Id(6)] public bool Public { get; init; }

    /// <summary>An invalidation of <paramref name="tags"/>.</summary>
    public static CachePublication Invalidate(IReadOnlyList<string> tags, string? idempotencyKey = null) =>
        new() { Kind = CacheEventKind.Invalidate, Items = tags, IdempotencyKey = idempotencyKey };

    /// <summary>A preload hint for <paramref name="routes"/>, to those interested in <paramref name="scopeTags"/> (null: everyone).</summary>
    public static CachePublication PreloadHint(IReadOnlyList<string> routes, IReadOnlyList<string>? scopeTags = null, string? idempotencyKey = null) =>
        new() { Kind = CacheEventKind.PreloadHint, Items = routes, ScopeTags = scopeTags, IdempotencyKey = idempotencyKey };

    /// <summary>A custom event, to those interested in <paramref name="scopeTags"/> (null: everyone).</summary>
    public static CachePublication Custom(string eventName, string data, IReadOnlyList<string>? scopeTags = null, string? idempotencyKey = null) =>
        new() { Kind = CacheEventKind.Custom, Items = [], EventName = eventName, Data = data, ScopeTags = scopeTags, IdempotencyKey = idempotencyKey };
}

/// <summary>What the hub did with a publish.</summary>
/// <param name="Sequence">The event's sequence (its SSE id); 0 when a debounced invalidation was only gathered.</param>
/// <param name="Repeated">True when the idempotency key was seen before and nothing new was published.</param>
[GenerateSerializer, Immutable]
public sealed record PublishReceipt([property: Id(0)] long Sequence, [property: Id(1)] bool Repeated);

/// <summary>The rules for idempotency keys.</summary>
public static class IdempotencyKeys
{
    /// <summary>The longest key accepted.</summary>
    public const int MaxLength = 128;

    /// <summary>Null when <paramref name="key"/> is 1–128 printable ASCII characters, else why not.</summary>
    public static string? Check(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            return "The idempotency key is empty.";
        }

        if (key.Length > MaxLength)
        {
            return $"The idempotency key is {key.Length} characters long; at most {MaxLength} are accepted.";
        }

        foreach (var c in key)
        {
            if (c is < '!' or > '~')
            {
                return $"The idempotency key may contain only printable ASCII characters without spaces (got U+{(int)c:X4}).";
            }
        }

        return null;
    }
}
