using System.Text.Json;
using System.Text.Json.Nodes;
using CountCachula.AspNetCore;
using CountCachula.AspNetCore.CacheTags;
using CountCachula.AspNetCore.Publishing;
using CountCachula.WebFrontend.Hosting;
using Microsoft.Extensions.Options;

namespace CountCachula.WebFrontend.Sample;

/// <summary>
/// The items API of the <see href="https://github.com/matthewp/countcachula/tree/main/sse">Count Cachula server documentation</see>'s example, in ASP.NET Core: GETs
/// declare their tags once (<c>.WithCacheTags</c>: the <c>Cache-Tags</c> header <c>@countcachula/core</c> reads, and
/// the output-cache entry's tags) and writes invalidate and hint through the hub. Reads push nothing: hints follow
/// writes, so serving a list never makes every browser fetch. With <c>CountCachula:EvictOutputCache</c> on, the GETs
/// are also cached on the server.
/// </summary>
public static class ItemsEndpoints
{
    /// <summary>The largest body the sample reads; items are small, so far below the hub's own limit.</summary>
    public const long MaxBodyBytes = 16 * 1024;

    /// <summary>Maps <c>/api/items</c>.</summary>
    public static RouteGroupBuilder MapSampleItems(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/api/items").WithTags("Sample items");
        var list = group.MapGet("/", List).WithCacheTags("items-list");
        var one = group.MapGet("/{id}", Get).WithCacheTags("item:{id}", "items-list");
        group.MapPost("/", CreateAsync);
        group.MapPatch("/{id}", UpdateAsync);

        // Server-side caching is only safe when the hub evicts it: otherwise a browser told to refetch would get the old copy.
        if (endpoints.ServiceProvider.GetRequiredService<IOptions<CountCachulaOptions>>().Value.EvictOutputCache)
        {
            list.CacheOutput();
            one.CacheOutput();
        }

        return group;
    }

    private static IResult List(ItemStore store) => Results.Ok(store.All());

    private static IResult Get(string id, ItemStore store) =>
        store.Find(id) is { } item ? Results.Ok(item) : NotFound(id);

    private static async Task<IResult> CreateAsync(HttpRequest request, ItemStore store, ICacheHub hub, OutputCacheEviction outputCache)
    {
        var (data, error) = await ReadObjectAsync(request);
        if (error is not null)
        {
            return error;
        }

        var (item, dropped) = store.Create(data!);
        string[] stale = dropped is null ? ["items-list"] : [$"item:{dropped}", "items-list"];
        await hub.InvalidateAsync(stale);

        // The writer's next read may reach this silo before the hub's event does.
        await outputCache.EvictAsync(hub.Tenant, stale);

        // The new item is the likeliest next read: hint it.
        await hub.PreloadHintAsync($"/api/items/{item["id"]}");
        return Results.Json(item, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> UpdateAsync(string id, HttpRequest request, ItemStore store, ICacheHub hub, OutputCacheEviction outputCache)
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

        string[] stale = [$"item:{id}", "items-list"];
        await hub.InvalidateAsync(stale);
        await outputCache.EvictAsync(hub.Tenant, stale);
        return Results.Ok(updated);
    }

    private static IResult NotFound(string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: $"There is no item '{id}'.");

    private static IResult TooLarge() =>
        Results.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Body too large", detail: $"An item's body may be at most {MaxBodyBytes} bytes.");

    private static async Task<(JsonObject? Data, IResult? Error)> ReadObjectAsync(HttpRequest request)
    {
        // A declared larger body is refused at once; an undeclared (chunked) one fails while it is read, below.
        if (request.ContentLength > MaxBodyBytes)
        {
            return (null, TooLarge());
        }

        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = MaxBodyBytes;
        }

        try
        {
            var node = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            return node is JsonObject data
                ? (data, null)
                : (null, Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed JSON", detail: "The body must be a JSON object."));
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }
        catch (JsonException exception)
        {
            return (null, Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed JSON", detail: $"The body is not valid JSON (line {exception.LineNumber}, byte {exception.BytePositionInLine})."));
        }
    }
}
