using System.Text;
using CountCachula.AspNetCore.CacheTags;
using Microsoft.AspNetCore.Routing.Patterns;

// Beside the endpoint builders, as .CacheOutput() and .RequireCors() are.
namespace Microsoft.AspNetCore.Builder;

/// <summary>Declares which hub tags an endpoint's responses carry.</summary>
public static class CacheTagsConventions
{
    /// <summary>
    /// Every response of the endpoint carries <paramref name="templates"/>, with <c>{name}</c> replaced by the route
    /// value of that name (<c>"item:{id}"</c> on <c>/api/items/{id}</c> gives <c>item:42</c>): in the <c>Cache-Tags</c>
    /// header and in the output-cache entry's tags, as <see cref="CacheTagsHttpContextExtensions.AddCacheTags"/> does.
    /// A route value that cannot be a tag (a comma, a non-ASCII character) is answered with 400. A template naming a
    /// parameter the route does not have fails when the endpoint is built.
    /// </summary>
    public static TBuilder WithCacheTags<TBuilder>(this TBuilder builder, params string[] templates)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var parsed = templates.Select(TagTemplate.Parse).ToArray();
        builder.Add(endpoint =>
        {
            if (endpoint is RouteEndpointBuilder route)
            {
                foreach (var name in parsed.SelectMany(t => t.Names))
                {
                    if (route.RoutePattern.GetParameter(name) is null)
                    {
                        throw new InvalidOperationException($"WithCacheTags: the route '{route.RoutePattern.RawText}' has no parameter '{{{name}}}'.");
                    }
                }
            }

            endpoint.FilterFactories.Add((_, next) => async invocation =>
            {
                var http = invocation.HttpContext;
                var tags = new string[parsed.Length];
                for (var i = 0; i < parsed.Length; i++)
                {
                    var (tag, name) = parsed[i].Fill(http.Request.RouteValues);
                    if (CacheTagsHeader.Problem(tag) is { } problem)
                    {
                        return Results.ValidationProblem(
                            new Dictionary<string, string[]> { [name ?? "route"] = [$"The route value cannot be a cache tag: '{tag}' {problem}."] },
                            detail: $"The route value '{name}' cannot be part of a cache tag.");
                    }

                    tags[i] = tag;
                }

                // Before the handler reads its data, so an invalidation that lands meanwhile keeps this response out of the output cache.
                http.AddCacheTags(tags);
                return await next(invocation);
            });
        });
        return builder;
    }

    /// <summary>A tag with <c>{name}</c> holes for route values.</summary>
    private sealed record TagTemplate(string[] Literals, string[] Names)
    {
        public static TagTemplate Parse(string template)
        {
            ArgumentException.ThrowIfNullOrEmpty(template);
            var literals = new List<string>();
            var names = new List<string>();
            var at = 0;
            while (template.IndexOf('{', at) is var open and >= 0)
            {
                var close = template.IndexOf('}', open);
                if (close < 0)
                {
                    throw new ArgumentException($"The cache tag template '{template}' has a '{{' without its '}}'.", nameof(template));
                }

                literals.Add(template[at..open]);
                names.Add(template[(open + 1)..close]);
                at = close + 1;
            }

            literals.Add(template[at..]);
            return new([.. literals], [.. names]);
        }

        /// <summary>The tag for these route values, and the name of the last value used (for a 400's message).</summary>
        public (string Tag, string? Name) Fill(RouteValueDictionary values)
        {
            if (Names.Length == 0)
            {
                return (Literals[0], null);
            }

            var tag = new StringBuilder(Literals[0]);
            for (var i = 0; i < Names.Length; i++)
            {
                tag.Append(Convert.ToString(values[Names[i]], System.Globalization.CultureInfo.InvariantCulture)).Append(Literals[i + 1]);
            }

            return (tag.ToString(), Names[^1]);
        }
    }
}
