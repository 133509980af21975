using System.Text.Json;
using System.Text.Json.Nodes;
using CountCachula.WebFrontend.Publishing;

namespace CountCachula.WebFrontend.Sample;

/// <summary>
/// The specification's "Complete Server Setup" example: a CRUD API whose GETs say which tags they carry
/// (<c>Cache-Tags</c>, read by <c>@countcachula/core</c>) and whose writes invalidate and hint through the hub.
/// </summary>
public static class ItemsEndpoints
{
    /// <summary>The header that tells the browser client which tags a cached response carries.</summary>
    public const string CacheTagsHeader = "Cache-Tags";

    /// <summary>Maps <c>/api/items</c>.</summary>
    public static RouteGroupBuilder MapSampleItems(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/api/items").WithTags("Sample items");
        group.MapGet("/", ListAsync);
        group.MapGet("/{id}", Get);
        group.MapPost("/", CreateAsync);
        group.MapPatch("/{id}", UpdateAsync);
        return group;
    }

    private static async Task<IResult> ListAsync(HttpResponse response, ItemStore store, ICacheHub hub)
    {
        var items = store.All();
        response.Headers[CacheTagsHeader] = "items-list";

        // The first few items are the likeliest next clicks: hint them.
        var preloads = items.Take(3).Select(item => $"/api/items/{item["id"]}").ToArray();
        if (preloads.Length > 0)
        {
            await hub.PreloadHintAsync(preloads);
        }

        return Results.Ok(items);
    }

    private static IResult Get(string id, HttpResponse response, ItemStore store)
    {
        var item = store.Find(id);
        if (item is null)
        {
            return NotFound(id);
        }

        response.Headers[CacheTagsHeader] = $"item:{id},items-list";
        return Results.Ok(item);
    }

    private static async Task<IResult> CreateAsync(HttpRequest request, ItemStore store, ICacheHub hub)
    {
        var (data, error) = await ReadObjectAsync(request);
        if (error is not null)
        {
            return error;
        }

        var item = store.Create(data!);
        await hub.InvalidateAsync("items-list");
        await hub.PreloadHintAsync($"/api/items/{item["id"]}");
        return Results.Json(item, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> UpdateAsync(string id, HttpRequest request, ItemStore store, ICacheHub hub)
    {
        var (updates, error) = await ReadObjectAsync(request);
        if (error is not null)
        {
            return error;
        }

        var updated = store.Update(id, updates!);
        if (updated is null)
        {
            return NotFound(id);
        }

        await hub.InvalidateAsync($"item:{id}", "items-list");
        return Results.Ok(updated);
    }

    private static IResult NotFound(string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: $"There is no item '{id}'.");

    private static async Task<(JsonObject? Data, IResult? Error)> ReadObjectAsync(HttpRequest request)
    {
        try
        {
            var node = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            return node is JsonObject data
                ? (data, null)
                : (null, Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed JSON", detail: "The body must be a JSON object."));
        }
        catch (JsonException exception)
        {
            return (null, Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed JSON", detail: $"The body is not valid JSON (line {exception.LineNumber}, byte {exception.BytePositionInLine})."));
        }
    }
}
