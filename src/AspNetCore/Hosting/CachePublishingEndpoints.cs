using System.Diagnostics.CodeAnalysis;
using System.Net;
using CountCachula.WebFrontend.Publishing;
using CountCachula.WebFrontend.Security;
using Microsoft.Extensions.Options;

namespace CountCachula.WebFrontend.Hosting;

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
            .Produces(StatusCodes.Status202Accepted)
            .ProducesValidationProblem();
        group.MapPost("/preload", PreloadAsync)
            .WithName("PreloadHint")
            .WithSummary("Send preload hints, to everyone or to the connections interested in scopeTags.")
            .Produces(StatusCodes.Status202Accepted)
            .ProducesValidationProblem();
        group.MapPost("/broadcast", BroadcastAsync)
            .WithName("Broadcast")
            .WithSummary("Send a custom event, to everyone or to the connections interested in scopeTags.")
            .Produces(StatusCodes.Status202Accepted)
            .ProducesValidationProblem();
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

        await HubFor(request, hub).InvalidateAsync((IReadOnlyList<string>)body.Tags!);
        return Results.Accepted();
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

        await HubFor(request, hub).PreloadHintAsync((IReadOnlyList<string>)body.Routes!, (IReadOnlyList<string>?)body.ScopeTags);
        return Results.Accepted();
    }

    private static async Task<IResult> BroadcastAsync(HttpRequest request, ICacheHub hub)
    {
        var (body, error) = await ReadAsync<BroadcastRequest>(request);
        if (error is not null)
        {
            return error;
        }

        if ((CustomEvents.Check(body!.Event, body.Data) ?? (body.ScopeTags is null ? null : CacheInput.Check(body.ScopeTags, "scopeTags"))) is { } problem)
        {
            return Invalid(problem);
        }

        await HubFor(request, hub).BroadcastAsync(body.Event!, body.Data!, (IReadOnlyList<string>?)body.ScopeTags);
        return Results.Accepted();
    }

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

/// <summary>The body of <c>POST /api/cache/invalidate</c>.</summary>
/// <param name="Tags">The tags to invalidate.</param>
internal sealed record InvalidateRequest(IReadOnlyList<string?>? Tags);

/// <summary>The body of <c>POST /api/cache/preload</c>.</summary>
/// <param name="Routes">The routes to hint.</param>
/// <param name="ScopeTags">When given, only connections interested in one of these tags get the hint.</param>
internal sealed record PreloadRequest(IReadOnlyList<string?>? Routes, IReadOnlyList<string?>? ScopeTags = null);

/// <summary>The body of <c>POST /api/cache/broadcast</c>.</summary>
/// <param name="Event">The custom event's name.</param>
/// <param name="Data">Its data (LF separates lines).</param>
/// <param name="ScopeTags">When given, only connections interested in one of these tags get it.</param>
internal sealed record BroadcastRequest(string? Event, string? Data, IReadOnlyList<string?>? ScopeTags = null);
