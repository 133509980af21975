using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

// docs: usings (what a Web SDK project needs beyond its implicit usings)
using System.Collections.Concurrent;
using CountCachula.AspNetCore.Hosting;

namespace CountCachula.Tests.CacheTags;

/// <summary>
/// An application's own API as <c>docs/client-integration.md</c> shows it: one declaration of each response's tags
/// (static with route values, and dynamic), server-side output caching, and a "database" every silo of the process
/// shares, so a fresh response can be told from a cached one.
/// </summary>
public static class DocsApi
{
    // docs: data
    /// <summary>The application's data: document id → text.</summary>
    public static readonly ConcurrentDictionary<string, string> Documents = new(StringComparer.Ordinal);

    /// <summary>Reads of <c>/slow/{id}</c> wait here (after their tags are declared) until the test releases them.</summary>
    public static readonly ConcurrentDictionary<string, (TaskCompletionSource Reading, TaskCompletionSource Release)> Gates = new(StringComparer.Ordinal);

    public static void Map(IEndpointRouteBuilder app)
    {
        // docs: static-tags
        app.MapGet("/docs/{id}", (string id) => Documents.GetValueOrDefault(id, "(none)"))
            .WithCacheTags("doc:{id}", "docs-list")
            .CacheOutput()
            .RequireCors(CountCachulaCors.PolicyName);

        // docs: dynamic-tags
        app.MapGet("/search", (HttpContext context, string q) =>
        {
            var hits = Documents.Where(d => d.Value.Contains(q, StringComparison.Ordinal)).Select(d => d.Key).Order().ToArray();
            context.AddCacheTags(["docs-list", .. hits.Select(id => $"doc:{id}")]);
            return string.Join(',', hits);
        })
            .CacheOutput()
            .RequireCors(CountCachulaCors.PolicyName);

        app.MapGet("/slow/{id}", async (string id) =>
        {
            var (reading, release) = Gates[id];
            reading.TrySetResult();
            await release.Task;
            return Documents.GetValueOrDefault(id, "(none)");
        }).WithCacheTags("doc:{id}").CacheOutput();

        app.MapGet("/echo-query", (HttpContext context) => context.Request.QueryString.Value ?? "");
    }
}
