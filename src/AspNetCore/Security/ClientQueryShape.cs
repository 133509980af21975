using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.Primitives;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// Reads the query the way <c>@countcachula/core</c> writes it. That client appends <c>?since=…</c> to its endpoint with
/// a literal <c>?</c> even when the endpoint already has a query, so <c>?tags=item:1</c> arrives as
/// <c>?tags=item:1?since=2026-…</c> and <c>?access_token=T</c> as <c>?access_token=T?since=…</c>. Before the hub reads
/// the query (its token reader's <c>access_token</c>, the policy's tenant, the interests, the replay's <c>since</c>),
/// the request's <see cref="HttpRequest.QueryString"/> is rewritten so that such a <c>?</c> becomes the <c>&amp;</c> it
/// stands for.
/// </summary>
/// <remarks>
/// Only a literal <c>?</c> directly followed by one of <see cref="Names"/> and <c>=</c> is rewritten, and only on
/// endpoints marked with <see cref="ClientQueryShapeMetadata"/> (the stream mapped by <c>MapCacheEvents</c>): a <c>?</c>
/// inside any other value stays, and <c>%3F</c> (an encoded <c>?</c>) is never touched, so it stays a literal character.
/// The rewrite is local to those endpoints and needs no middleware: the hub's first readers of a request's query (its
/// token reader and its authorization handler) call <see cref="Apply"/>, which runs after routing has chosen the endpoint.
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

    /// <summary>
    /// Rewrites the query of <paramref name="context"/> with <see cref="Normalize"/> when its endpoint is marked with
    /// <see cref="ClientQueryShapeMetadata"/>. Cheap when there is nothing to do, and idempotent, so every reader of the
    /// query may call it.
    /// </summary>
    public static void Apply(HttpContext context)
    {
        var query = context.Request.QueryString.Value;

        // Cheap test first: without a second '?', there is nothing to rewrite.
        if (query is { Length: > 2 } && query.IndexOf('?', 1) > 0
            && context.GetEndpoint()?.Metadata.GetMetadata<ClientQueryShapeMetadata>() is not null)
        {
            var normalized = Normalize(query);
            if (!ReferenceEquals(normalized, query))
            {
                context.Request.QueryString = new QueryString(normalized);
            }
        }
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
