using System.Diagnostics.CodeAnalysis;
using System.Net;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Security;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>Maps the HTTP publishing API, for backends that are not .NET or not in the cluster.</summary>
internal static class CachePublishingEndpoints
{
    /// <summary>
    /// Maps <c>POST {prefix}/invalidate</c> (<c>{"tags":[...]}</c>) and <c>POST {prefix}/preload</c>
    /// (<c>{"routes":[...]}</c>). Both answer 202 once the hub accepted the event, 400 with ProblemDetails naming
    /// the offending value otherwise.
    /// </summary>
    internal static RouteGroupBuilder MapCachePublishing(IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string prefix = "/api/cache")
    {
        var group = endpoints.MapGroup(prefix);
        group.RequireAuthorization(CountCachulaPolicies.Publisher);
        group.AddEndpointFilter(RequireAllowedCaller);
        group.MapPost("/invalidate", InvalidateAsync)
            .WithName("Invalidate")
            .WithSummary("Invalidate cache tags.")
            .Produces<PublishedView>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        group.MapPost("/preload", PreloadAsync)
            .WithName("PreloadHint")
            .WithSummary("Send preload hints, to everyone or to the connections interested in scopeTags.")
            .Produces<PublishedView>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        group.MapPost("/broadcast", BroadcastAsync)
            .WithName("Broadcast")
            .WithSummary("Send a custom event, to everyone or to the connections interested in scopeTags.")
            .Produces<PublishedView>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    private static async Task<IResult> InvalidateAsync(HttpRequest request, ICacheHub hub)
    {
        var (body, error) = await ReadAsync<InvalidateRequest>(request);
        if (error is not null)
        {
            return error;
        }

        if (CacheInput.Check(body!.Tags, "tags") is { } problem)
        {
            return Invalid(problem);
        }

        return await PublishAsync(request, hub, CachePublication.Invalidate((IReadOnlyList<string>)body.Tags!));
    }

    private static async Task<IResult> PreloadAsync(HttpRequest request, ICacheHub hub)
    {
        var (body, error) = await ReadAsync<PreloadRequest>(request);
        if (error is not null)
        {
            return error;
        }

        if ((CacheInput.Check(body!.Routes, "routes") ?? (body.ScopeTags is null ? null : CacheInput.Check(body.ScopeTags, "scopeTags"))) is { } problem)
        {
            return Invalid(problem);
        }

        return await PublishAsync(request, hub, CachePublication.PreloadHint((IReadOnlyList<string>)body.Routes!, (IReadOnlyList<string>?)body.ScopeTags) with { Public = body.Public == true });
    }

    private static async Task<IResult> BroadcastAsync(HttpRequest request, ICacheHub hub, IOptions<CountCachulaOptions> options)
    {
        var (body, error) = await ReadAsync<BroadcastRequest>(request);
        if (error is not null)
        {
            return error;
        }

        // The size first, with its own status: every stream that receives the event holds it whole.
        var limit = options.Value.MaxCustomEventBytes;
        if (body!.Data is { } data && CustomEvents.TooLarge(data, limit) is { } bytes)
        {
            return CustomEventTooLarge(bytes, limit);
        }

        if ((CustomEvents.Check(body.Event, body.Data, int.MaxValue) ?? (body.ScopeTags is null ? null : CacheInput.Check(body.ScopeTags, "scopeTags"))) is { } problem)
        {
            return Invalid(problem);
        }

        return await PublishAsync(request, hub, CachePublication.Custom(body.Event!, body.Data!, (IReadOnlyList<string>?)body.ScopeTags) with { Public = body.Public == true });
    }

    /// <summary>Publishes with the request's idempotency key; 202 only once the hub recorded the event.</summary>
    private static async Task<IResult> PublishAsync(HttpRequest request, ICacheHub hub, CachePublication publication)
    {
        var key = request.Headers[IdempotencyKeyHeader];
        if (key.Count > 1 || (key.Count == 1 && IdempotencyKeys.Check(key[0]) is not null))
        {
            var why = key.Count > 1 ? "The Idempotency-Key header appears more than once." : IdempotencyKeys.Check(key[0])!;
            return Results.ValidationProblem(new Dictionary<string, string[]> { [IdempotencyKeyHeader] = [why] }, detail: why);
        }

        try
        {
            var receipt = await HubFor(request, hub).PublishAsync(publication with { IdempotencyKey = key.Count == 1 ? key[0] : null });
            var id = receipt.Sequence == 0 ? null : receipt.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Json(new PublishedView(id, receipt.Repeated), statusCode: StatusCodes.Status202Accepted);
        }
        catch (ArgumentException exception)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { [exception.ParamName ?? "body"] = [exception.Message] }, detail: exception.Message);
        }
        catch (IdempotencyKeyReusedException exception)
        {
            return Results.ValidationProblem(
                new Dictionary<string, string[]> { [IdempotencyKeyHeader] = [exception.Message] },
                detail: exception.Message,
                statusCode: StatusCodes.Status422UnprocessableEntity,
                title: "Idempotency-Key reused for a different publication");
        }
        catch (Exception exception) when (TransientFailures.IsTransient(exception, request.HttpContext))
        {
            return TransientFailures.Unavailable(request.HttpContext.Response, exception);
        }
    }

    private const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>The answer to a custom event whose data is <paramref name="bytes"/> long, over <paramref name="limit"/>.</summary>
    internal static IResult CustomEventTooLarge(int bytes, int limit) => Results.Problem(
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "Custom event too large",
        detail: $"The custom event's data is {bytes} bytes of UTF-8; this hub accepts at most {limit} ({CountCachulaOptions.SectionName}:{nameof(CountCachulaOptions.MaxCustomEventBytes)}).",
        extensions: new Dictionary<string, object?> { ["limit"] = limit, ["setting"] = $"{CountCachulaOptions.SectionName}:{nameof(CountCachulaOptions.MaxCustomEventBytes)}", ["bytes"] = bytes });

    private static IResult Invalid(CacheInputError problem) =>
        Results.ValidationProblem(new Dictionary<string, string[]> { [problem.Key] = [problem.Message] }, detail: problem.Message);

    /// <summary>Reads a JSON body, answering malformed or mistyped input with a ProblemDetails that says where it broke.</summary>
    private static async Task<(T? Body, IResult? Error)> ReadAsync<T>(HttpRequest request)
        where T : class
    {
        if (!request.HasJsonContentType())
        {
            return (null, Results.Problem(
                statusCode: StatusCodes.Status415UnsupportedMediaType,
                title: "Unsupported media type",
                detail: $"Send the body as application/json (got '{request.ContentType ?? "no Content-Type"}')."));
        }

        return await RequestChecks.ReadJsonAsync<T>(request, "The body is the JSON literal null; an object is expected.");
    }

    /// <summary>The hub of the tenant the caller was admitted for (by the publisher policy).</summary>
    private static ICacheHub HubFor(HttpRequest request, ICacheHub hub) =>
        CountCachulaAccess.GrantOf(request.HttpContext).Tenant is var tenant && tenant != hub.Tenant ? hub.ForTenant(tenant) : hub;

    private static async ValueTask<object?> RequireAllowedCaller(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var options = http.RequestServices.GetRequiredService<IOptions<CountCachulaOptions>>().Value;
        if ((RequestChecks.BodyTooLarge(http, options.MaxRequestBodyBytes) ?? RequestChecks.QueryProblem(http.Request)) is { } badRequest)
        {
            return badRequest;
        }

        // With auth on, a credential decided (the publisher policy, which names the tenant); without it, only this host may publish.
        if (!options.Auth.IsEnabled && !options.AllowRemotePublishing && http.Connection.RemoteIpAddress is { } address && !IPAddress.IsLoopback(address))
        {
            return Results.Problem(
                statusCode: StatusCodes.Status403Forbidden,
                title: "Publishing is limited to this host",
                detail: $"Publishing is accepted only from loopback until remote publishing is enabled ({CountCachulaOptions.SectionName}:{nameof(CountCachulaOptions.AllowRemotePublishing)}).");
        }

        return await next(context);
    }
}

/// <summary>The answer to an accepted publish.</summary>
/// <param name="Id">The event's id, as browsers see it in SSE <c>id:</c>; null for a debounced invalidation not yet sent.</param>
/// <param name="Repeated">True when the Idempotency-Key was accepted before: nothing new was published.</param>
public sealed record PublishedView(string? Id, bool Repeated);

/// <summary>The body of <c>POST /api/cache/invalidate</c>.</summary>
/// <param name="Tags">The tags to invalidate.</param>
internal sealed record InvalidateRequest(IReadOnlyList<string?>? Tags);

/// <summary>The body of <c>POST /api/cache/preload</c>.</summary>
/// <param name="Routes">The routes to hint.</param>
/// <param name="ScopeTags">When given, only connections interested in one of these tags get the hint.</param>
/// <param name="Public">Without scope tags: true sends the hint to every stream, not only those granted <c>*</c>.</param>
internal sealed record PreloadRequest(IReadOnlyList<string?>? Routes, IReadOnlyList<string?>? ScopeTags = null, bool? Public = null);

/// <summary>The body of <c>POST /api/cache/broadcast</c>.</summary>
/// <param name="Event">The custom event's name.</param>
/// <param name="Data">Its data (LF separates lines).</param>
/// <param name="ScopeTags">When given, only connections interested in one of these tags get it.</param>
/// <param name="Public">Without scope tags: true sends the event to every stream, not only those granted <c>*</c>.</param>
internal sealed record BroadcastRequest(string? Event, string? Data, IReadOnlyList<string?>? ScopeTags = null, bool? Public = null);
