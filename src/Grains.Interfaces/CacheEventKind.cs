namespace CountCachula;

/// <summary>What a <see cref="CacheEvent"/> tells the browser.</summary>
[GenerateSerializer]
public enum CacheEventKind
{
    /// <summary>Cached responses carrying these tags are stale (<c>event: invalidate</c>).</summary>
    Invalidate = 0,

    /// <summary>These routes are worth fetching ahead of need (<c>event: preload-hint</c>, or <c>preload</c> in JSON format).</summary>
    PreloadHint = 1,

    /// <summary>An application-defined event (<c>event: {name}</c>), sent with <see cref="ICacheHubGrain.Broadcast"/>.</summary>
    Custom = 2,
}
