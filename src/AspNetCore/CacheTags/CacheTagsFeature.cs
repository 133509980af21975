using Microsoft.AspNetCore.OutputCaching;

namespace CountCachula.AspNetCore.CacheTags;

/// <summary>
/// The tags of one response: written to the <c>Cache-Tags</c> header as they are added (the output cache copies the
/// headers when the body starts, so they cannot wait until then) and, when output caching handles the request, to
/// its entry's tags.
/// </summary>
internal sealed class CacheTagsFeature(HttpContext context, CountCachulaOptions options, OutputCacheEviction eviction)
{
    /// <summary>The most tags one response may carry.</summary>
    public const int MaxTags = 256;

    private readonly List<string> _tags = [];
    private readonly List<string> _tenants = [];
    private string _tenant = options.DefaultTenant;

    /// <summary>The tags added so far, in first-seen order, without the <c>*</c> the header may add.</summary>
    public IReadOnlyList<string> Tags => _tags;

    public static CacheTagsFeature Of(HttpContext context)
    {
        var feature = context.Features.Get<CacheTagsFeature>();
        if (feature is null)
        {
            var services = context.RequestServices;
            feature = new CacheTagsFeature(
                context,
                services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CountCachulaOptions>>().Value,
                services.GetRequiredService<OutputCacheEviction>());
            context.Features.Set(feature);
        }

        return feature;
    }

    public void SetTenant(string tenant)
    {
        if (CacheTenant.Validate(tenant) is { } invalid)
        {
            throw new ArgumentException(invalid, nameof(tenant));
        }

        _tenant = tenant;
        TagOutputCache(_tags);
    }

    public void Add(IReadOnlyList<string> tags)
    {
        for (var i = 0; i < tags.Count; i++)
        {
            if (CacheTagsHeader.Problem(tags[i]) is { } problem)
            {
                throw new ArgumentException($"Cache tag {i} ('{tags[i]}') {problem}", nameof(tags));
            }
        }

        if (context.Response.HasStarted)
        {
            throw new InvalidOperationException("Cache tags must be added before the response starts: they travel in the Cache-Tags header.");
        }

        var added = tags.Where(t => !_tags.Contains(t)).Distinct(StringComparer.Ordinal).ToArray();
        if (_tags.Count + added.Length > MaxTags)
        {
            // The header grows with every tag, and proxies refuse responses whose headers outgrow their buffers.
            throw new InvalidOperationException($"A response may carry at most {MaxTags} cache tags; tag what it is made of more coarsely (e.g. 'items-list').");
        }

        _tags.AddRange(added);
        context.Response.Headers[CacheTagsHeader.Name] = CacheTagsHeader.Format(_tags, options.CacheTagsIncludeAll);
        TagOutputCache(added);
    }

    private void TagOutputCache(IReadOnlyList<string> tags)
    {
        if (context.Features.Get<IOutputCacheFeature>()?.Context is not { } cache)
        {
            return;
        }

        cache.Tags.Add(OutputCacheTags.AllOf(_tenant));
        foreach (var tag in tags)
        {
            cache.Tags.Add(OutputCacheTags.For(_tenant, tag));
        }

        if (!_tenants.Contains(_tenant))
        {
            _tenants.Add(_tenant);
            eviction.Track(context, cache, _tenant);
        }
    }
}
