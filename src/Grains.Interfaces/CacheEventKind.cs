namespace CountCachula;

/// <summary>What a <see cref="CacheEvent"/> tells the browser.</summary>
[GenerateSerializer]
public enum CacheEventKind
{
    /// <summary>Cached responses carrying these tags are stale (<c>event: invalidate</c>).</summary>
    Invalidate = 0,

    /// <summary>These routes are worth fetching ahead of need (<c>event: preload-hint</c>).</summary>
    PreloadHint = 1,
}
