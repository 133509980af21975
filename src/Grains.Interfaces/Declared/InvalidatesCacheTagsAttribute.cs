namespace CountCachula;

/// <summary>
/// Declares the cache tags a grain method makes stale. When the method completes successfully, the silo's call filter
/// (added by <c>ISiloBuilder.AddCountCachula()</c>) binds the templates and publishes one invalidation of them, plus any
/// tag added during the call with <see cref="CacheInvalidation.Add(string[])"/>, to the hub of the grain's tenant
/// (<see cref="CacheTenantAttribute"/>). A call that throws publishes nothing.
/// </summary>
/// <remarks>
/// Put it on the grain class's method (the implementation), not on the grain interface: which cached responses a write
/// makes stale is the implementation's knowledge, and callers that only hold the interface need not know it.
/// <para>
/// A template is literal text with placeholders in braces: <c>{key}</c> is the grain's primary key (a string key as it
/// is, an integer key in invariant decimal, a Guid key as <c>D</c>), any other name is the method parameter of that
/// name, formatted with the invariant culture (null binds as an empty string). <c>{{</c> and <c>}}</c> stand for
/// literal braces. Every template is checked when the silo starts: a placeholder naming neither <c>key</c> nor a
/// parameter, an unclosed brace, or literal text that breaks the rules of <see cref="CacheInput"/> stops the silo with
/// a message naming the grain class, the method and the template.
/// </para>
/// </remarks>
/// <example><c>[InvalidatesCacheTags("order:{key}", "customer:{customerId}:orders", "orders-list")]</c></example>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = true)]
public sealed class InvalidatesCacheTagsAttribute(params string[] templates) : Attribute
{
    /// <summary>The tag templates; none when the method only adds tags during the call.</summary>
    public IReadOnlyList<string> Templates { get; } = templates ?? [];
}

/// <summary>
/// The tenant whose hub receives the invalidations declared by this grain class's methods
/// (<see cref="InvalidatesCacheTagsAttribute"/>). Without it they go to <see cref="CacheTenant.Default"/>.
/// Checked with <see cref="CacheTenant.Validate"/> when the silo starts.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = true)]
public sealed class CacheTenantAttribute(string tenant) : Attribute
{
    /// <summary>The tenant id.</summary>
    public string Tenant { get; } = tenant;
}
