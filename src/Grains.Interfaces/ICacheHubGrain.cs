using Orleans.Concurrency;

namespace CountCachula;

/// <summary>
/// The hub of one tenant: the cluster-wide entry point for cache invalidations and preload hints.
/// The grain key is the tenant id; single-tenant applications use <see cref="CacheTenant.Default"/>.
/// </summary>
/// <remarks>
/// A call completes when the event has been validated, given its per-tenant sequence number and handed to the
/// Orleans streams that carry it to every silo's web frontend; it does not wait for browsers to receive it.
/// </remarks>
public interface ICacheHubGrain : IGrainWithStringKey
{
    /// <summary>Tells every interested browser that cached responses carrying any of <paramref name="tags"/> are stale.</summary>
    /// <exception cref="ArgumentException">A tag is empty, too long, contains CR, LF, NUL or a comma, or there are too many.</exception>
    Task Invalidate(IReadOnlyList<string> tags);

    /// <summary>Suggests routes that browsers should fetch ahead of need.</summary>
    /// <exception cref="ArgumentException">A route is empty, too long, contains CR, LF, NUL or a comma, or there are too many.</exception>
    Task PreloadHint(IReadOnlyList<string> routes);

    /// <summary>
    /// Called by a tag's topic grain when its first listener arrives (<paramref name="listened"/> true) or its last
    /// leaves: the hub routes a tag's events to its topic only while someone listens there. Interleaves with publishing
    /// so a topic may call it while the hub waits on that topic.
    /// </summary>
    [AlwaysInterleave]
    Task SetTopicListened(string tag, bool listened);
}
