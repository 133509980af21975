using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.Primitives;

namespace CountCachula.AspNetCore.Hosting;

/// <summary>
/// Reads the query the way <c>@countcachula/core</c> writes it. That client appends <c>?since=…</c> to its endpoint with
/// a literal <c>?</c> even when the endpoint already has a query, so <c>?tags=item:1</c> arrives as
/// <c>?tags=item:1?since=2026-…</c> and <c>?access_token=T</c> as <c>?access_token=T?since=…</c>. Before anything reads
/// the query (the JwtBearer handler's <c>access_token</c>, the interests, the replay's <c>since</c>), the request's
/// <see cref="HttpRequest.QueryString"/> is rewritten so that such a <c>?</c> becomes the <c>&amp;</c> it stands for.
/// </summary>
/// <remarks>
/// Only a literal <c>?</c> directly followed by one of <see cref="Names"/> and <c>=</c> is rewritten, and only on
/// endpoints marked with <see cref="ClientQueryShapeMetadata"/> (the stream mapped by <c>MapCacheEvents</c>): a <c>?</c>
/// inside any other value stays, and <c>%3F</c> (an encoded <c>?</c>) is never touched, so it stays a literal character.
/// </remarks>
internal static class ClientQueryShape
{
    /// <summary>The query parameters the hub reads; a <c>?</c> that starts one of them separates parameters.</summary>
    public static readonly IReadOnlyList<string> Names = ["since", "tags", "access_token", "format", "tenant", "lastEventId"];

    /// <summary>
    /// Returns <paramref name="query"/> (with its leading <c>?</c>) with every literal <c>?</c> that starts a further
    /// <c>name=value</c> pair of <see cref="Names"/> turned into <c>&amp;</c>; the same instance when there is none.
    /// </summary>
    public static string Normalize(string query)
    {
        char[]? rewritten = null;
        for (var i = query.IndexOf('?', 1); i > 0; i = query.IndexOf('?', i + 1))
        {
            if (StartsWithName(query.AsSpan(i + 1)))
            {
                rewritten ??= query.ToCharArray();
                rewritten[i] = '&';
            }
        }

        return rewritten is null ? query : new string(rewritten);
    }

    private static bool StartsWithName(ReadOnlySpan<char> rest)
    {
        foreach (var name in Names)
        {
            // Query keys are case-insensitive in ASP.NET Core, so 'Since=' is read as 'since' too.
            if (rest.Length > name.Length && rest[name.Length] == '=' && rest[..name.Length].Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Marks an endpoint whose query is read the way <c>@countcachula/core</c> writes it (see <see cref="ClientQueryShape"/>).</summary>
internal sealed class ClientQueryShapeMetadata;

/// <summary>
/// Rewrites the query of requests for endpoints marked with <see cref="ClientQueryShapeMetadata"/>. It runs first in
/// the pipeline (registered by <c>AddCountCachula</c> through <see cref="ClientQueryShapeStartupFilter"/>), before
/// routing and authentication, so it finds its endpoints by path from the endpoint data source.
/// </summary>
internal sealed class ClientQueryShapeMiddleware(RequestDelegate next, EndpointDataSource endpoints)
{
    // Replaced whole (a reference, so readers on other threads never see half of it).
    private Marked? _marked;

    public Task InvokeAsync(HttpContext context)
    {
        var query = context.Request.QueryString.Value;

        // Cheap test first: without a second '?', there is nothing to rewrite on any endpoint.
        if (query is { Length: > 2 } && query.IndexOf('?', 1) > 0 && IsMarked(context.Request.Path))
        {
            var normalized = ClientQueryShape.Normalize(query);
            if (!ReferenceEquals(normalized, query))
            {
                context.Request.QueryString = new QueryString(normalized);
            }
        }

        return next(context);
    }

    private bool IsMarked(PathString path)
    {
        var marked = Volatile.Read(ref _marked);
        if (marked is null || marked.Token.HasChanged)
        {
            // Endpoints can change at run time (dynamic data sources): re-read them when the source says so.
            var token = endpoints.GetChangeToken();
            marked = new Marked(token, [.. endpoints.Endpoints.OfType<RouteEndpoint>()
                .Where(e => e.Metadata.GetMetadata<ClientQueryShapeMetadata>() is not null)
                .Select(e => e.RoutePattern)]);
            Volatile.Write(ref _marked, marked);
        }

        var segments = (path.Value ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries);
        foreach (var pattern in marked.Patterns)
        {
            if (Matches(pattern, segments))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Literal segments compare case-insensitively, as routing does; a segment with a parameter takes any value.</summary>
    private static bool Matches(RoutePattern pattern, string[] segments)
    {
        if (pattern.PathSegments.Count != segments.Length)
        {
            return false;
        }

        for (var i = 0; i < segments.Length; i++)
        {
            var parts = pattern.PathSegments[i].Parts;
            if (parts is [RoutePatternLiteralPart literal] && !literal.Content.Equals(segments[i], StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        return true;
    }

    private sealed record Marked(IChangeToken Token, RoutePattern[] Patterns);
}

/// <summary>Puts <see cref="ClientQueryShapeMiddleware"/> at the very start of the application's pipeline.</summary>
internal sealed class ClientQueryShapeStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.UseMiddleware<ClientQueryShapeMiddleware>();
        next(app);
    };
}
