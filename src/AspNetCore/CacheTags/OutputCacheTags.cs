namespace CountCachula.AspNetCore.CacheTags;

/// <summary>
/// How Count Cachula names its tags in the ASP.NET Core output cache: a hub tag <c>item:42</c> of tenant <c>acme</c>
/// tags entries as <c>cc:acme:item:42</c>, and every tagged entry also carries <c>cc:acme:*</c>, so the hub's
/// <c>*</c> (start over) evicts exactly that tenant's tagged entries. Tenant ids cannot hold <c>:</c>, so names never
/// collide across tenants. Use these to evict by hand (<c>IOutputCacheStore.EvictByTagAsync</c>).
/// </summary>
public static class OutputCacheTags
{
    /// <summary>The output-cache tag of hub tag <paramref name="tag"/> in <paramref name="tenant"/>.</summary>
    public static string For(string tenant, string tag) => $"cc:{tenant}:{tag}";

    /// <summary>The output-cache tag every tagged entry of <paramref name="tenant"/> carries.</summary>
    public static string AllOf(string tenant) => $"cc:{tenant}:*";
}
