using CountCachula.AspNetCore.CacheTags;

// Beside HttpContext, so the methods are found without another using.
namespace Microsoft.AspNetCore.Http;

/// <summary>Declares which hub tags a response carries, from inside an endpoint (dynamic tags).</summary>
public static class CacheTagsHttpContextExtensions
{
    /// <summary>
    /// Adds <paramref name="tags"/> to the response: they are written to the <c>Cache-Tags</c> header (comma-joined,
    /// with <c>*</c> unless <c>CountCachula:CacheTagsIncludeAll</c> is off) and, when ASP.NET Core output caching
    /// handles the request, to the cached entry's tags, so a hub invalidation of one of them evicts it (see
    /// <c>CountCachula:EvictOutputCache</c>). Call it before reading the data the response is made of, and before the
    /// response starts.
    /// </summary>
    /// <exception cref="ArgumentException">A tag is empty, too long, not printable ASCII, or starts or ends with a space.</exception>
    /// <exception cref="InvalidOperationException">The response has already started.</exception>
    public static void AddCacheTags(this HttpContext context, params IReadOnlyList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(context);
        CacheTagsFeature.Of(context).Add(tags);
    }

    /// <summary>
    /// Names the tenant whose hub publishes this response's tags (default: <c>CountCachula:DefaultTenant</c>), so the
    /// output-cache entry is evicted by that tenant's invalidations.
    /// </summary>
    public static void SetCacheTenant(this HttpContext context, string tenant)
    {
        ArgumentNullException.ThrowIfNull(context);
        CacheTagsFeature.Of(context).SetTenant(tenant);
    }

    /// <summary>The tags added to this response so far (without the <c>*</c> the header may add).</summary>
    public static IReadOnlyList<string> GetCacheTags(this HttpContext context) =>
        context.Features.Get<CacheTagsFeature>()?.Tags ?? [];
}
