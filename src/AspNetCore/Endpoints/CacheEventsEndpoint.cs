using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Security;
using CountCachula.AspNetCore.Sse;
using CountCachula.AspNetCore.Streaming;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>Maps the SSE endpoint that browsers (<c>EventSource</c>, <c>@countcachula/core</c>) connect to.</summary>
internal static partial class CacheEventsEndpoint
{
    /// <summary>
    /// Maps <c>GET {pattern}</c>: an SSE stream that starts with <c>connected</c> and then carries this silo's share of
    /// <c>invalidate</c> and <c>preload-hint</c> events, with a heartbeat every <see cref="CountCachulaOptions.HeartbeatInterval"/>.
    /// </summary>
    /// <remarks>
    /// <c>?tags=user:123,posts:*</c> limits the stream to exact tags, prefix patterns and <c>*</c> (the default);
    /// <c>?format=json</c> selects the JSON format. <c>POST {pattern}/{connectionId}/interests</c> changes the
    /// interests of an open stream, on the silo that holds it, for the caller that sends the stream's key (the
    /// <c>streamKey</c> of its <c>connected</c> event) as <c>X-Stream-Key</c>. The stream and interest endpoints require
    /// <see cref="CountCachulaPolicies.Subscriber"/>, the diagnostics <see cref="CountCachulaPolicies.Operator"/>.
    /// </remarks>
    internal static RouteGroupBuilder MapCacheEvents(IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern = "/api/cache-events")
    {
        var group = endpoints.MapGroup(pattern);
        group.WithMetadata(new ClientQueryShapeMetadata());
        group.MapGet("/", StreamAsync)
            .WithName("CacheEvents")
            .WithSummary("Server-Sent Events: connected, invalidate, preload-hint (or preload), custom events, heartbeat.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status406NotAcceptable)
            .RequireAuthorization(CountCachulaPolicies.Subscriber);
        group.MapPost("/{connectionId}/interests", ConnectionInterests.ChangeAsync)
            .WithName("ChangeInterests")
            .WithSummary("Add or remove interests of an open stream.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireAuthorization(CountCachulaPolicies.Subscriber);
        group.MapGet("/diagnostics", Diagnostics)
            .WithName("CacheEventsDiagnostics")
            .WithSummary("This silo's counters: connections, stream subscriptions and messages, events, deliveries, gaps.")
            .RequireAuthorization(CountCachulaPolicies.Operator)

            // An operator view: no page of another origin reads it, whatever CORS the application puts on the group.
            .WithMetadata(new Microsoft.AspNetCore.Cors.DisableCorsAttribute());
        return group;
    }

    private static Task<SiloDiagnostics> Diagnostics(
        ConnectionRegistry registry, TopicSubscriptions subscriptions, CountCachulaMetrics metrics, IGrainFactory grains, IOptions<CountCachulaOptions> options) =>
        SiloDiagnostics.ReadAsync(registry, subscriptions, metrics, grains, options.Value);

    private static async Task<IResult> StreamAsync(
        HttpContext context,
        ConnectionRegistry registry,
        TopicSubscriptions subscriptions,
        IGrainFactory grains,
        CountCachulaMetrics metrics,
        ConnectionLimits limits,
        StreamDrain drain,
        IOptions<CountCachulaOptions> options,
        ILoggerFactory loggerFactory)
    {
        if (drain.Draining)
        {
            // This server is stopping: a 200 that sends the browser elsewhere, never a refusal it would give up on.
            EventStreamResponse.Start(context);
            context.Response.BodyWriter.Write(SseFrame.Reconnect((int)options.Value.Retry.TotalMilliseconds).Bytes.Span);
            await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
            return Results.Empty;
        }

        if (!EventStreamRequest.AcceptsEventStream(context.Request))
        {
            return Results.Problem(
                statusCode: StatusCodes.Status406NotAcceptable,
                title: "This endpoint only speaks text/event-stream",
                detail: $"The Accept header '{context.Request.Headers.Accept}' does not allow text/event-stream; connect with EventSource or send 'Accept: text/event-stream'.");
        }

        if (RequestChecks.QueryProblem(context.Request) is { } queryProblem)
        {
            return queryProblem;
        }

        if (!EventStreamRequest.TryReadFormat(context.Request, out var format, out var formatProblem))
        {
            return formatProblem;
        }

        var settings = options.Value;
        var grant = CountCachulaAccess.GrantOf(context);

        if (ReplayRequest.Problem(context.Request) is { } idProblem)
        {
            return idProblem;
        }

        // No ?tags= means everything the credential allows: the token's own patterns ('*' with auth off).
        var requested = context.Request.Query["tags"].ToString();
        Interest[] interests;
        if (requested.Length == 0)
        {
            if (CountCachulaAccess.NothingGranted(grant) is { } nothing)
            {
                return nothing;
            }

            interests = [.. grant.Patterns.Distinct()];
            if (interests.Length > ConnectionInterests.MaxPerConnection)
            {
                // The token's own list opens the stream here, so it obeys the same bound as a ?tags= list would.
                return ConnectionInterests.Invalid("tags", $"The token grants {interests.Length} tag patterns and a stream may hold at most {ConnectionInterests.MaxPerConnection}; name the ones this stream needs with ?tags=.");
            }
        }
        else
        {
            interests = ConnectionInterests.Parse(requested.Split(','), "tags", out var interestProblem);
            if (interestProblem is not null)
            {
                return interestProblem;
            }
        }

        if (await CountCachulaAccess.AuthorizeScopeAsync(context, interests, grant) is { } outside)
        {
            return outside;
        }

        var tenant = grant.Tenant;
        var address = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        if (limits.TryAcquire(tenant, address, settings.MaxConnectionsPerTenant, settings.MaxConnectionsPerIp, grant.Credential, settings.MaxConnectionsPerCredential) is { } full)
        {
            return ConnectionInterests.TooMany(context.Response, "Too many streams", full);
        }

        try
        {
            return await EventStreamSession.ServeAsync(context, registry, subscriptions, grains, metrics, limits, settings, grant, interests, format, loggerFactory);
        }
        finally
        {
            limits.Release(tenant, address, grant.Credential);
        }
    }
}
