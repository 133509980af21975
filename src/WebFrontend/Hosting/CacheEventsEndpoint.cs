using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using CountCachula.WebFrontend.Connections;
using CountCachula.WebFrontend.Streaming;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace CountCachula.WebFrontend.Hosting;

/// <summary>Maps the SSE endpoint that browsers (<c>EventSource</c>, <c>@countcachula/core</c>) connect to.</summary>
public static partial class CacheEventsEndpoint
{
    /// <summary>
    /// Maps <c>GET {pattern}</c>: an SSE stream that starts with <c>connected</c> and then carries this silo's share of
    /// <c>invalidate</c> and <c>preload-hint</c> events, with a heartbeat every <see cref="CountCachulaOptions.HeartbeatInterval"/>.
    /// </summary>
    public static RouteHandlerBuilder MapCacheEvents(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern = "/api/cache-events") =>
        endpoints.MapGet(pattern, StreamAsync)
            .WithName("CacheEvents")
            .WithSummary("Server-Sent Events: connected, invalidate, preload-hint, heartbeat.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesProblem(StatusCodes.Status406NotAcceptable);

    private static async Task<IResult> StreamAsync(
        HttpContext context,
        ConnectionRegistry registry,
        SiloEventSubscriber subscriber,
        CountCachulaMetrics metrics,
        IOptions<CountCachulaOptions> options,
        ILoggerFactory loggerFactory)
    {
        if (!AcceptsEventStream(context.Request))
        {
            return Results.Problem(
                statusCode: StatusCodes.Status406NotAcceptable,
                title: "This endpoint only speaks text/event-stream",
                detail: $"The Accept header '{context.Request.Headers.Accept}' does not allow text/event-stream; connect with EventSource or send 'Accept: text/event-stream'.");
        }

        var settings = options.Value;
        var tenant = settings.DefaultTenant;
        var aborted = context.RequestAborted;

        // Subscribe before announcing the connection: once the browser sees 'connected', nothing published later is missed.
        await subscriber.EnsureSubscribedAsync(tenant, aborted);

        var connection = new SseConnection(Guid.NewGuid().ToString("N"), tenant, settings.ConnectionQueueCapacity, context.Abort);
        var retry = settings.RetryMilliseconds + (settings.RetryJitterMilliseconds > 0 ? Random.Shared.Next(settings.RetryJitterMilliseconds + 1) : 0);
        var connected = JsonSerializer.Serialize(new ConnectedData(connection.Id, tenant, DateTimeOffset.UtcNow), ConnectedJson.Default.ConnectedData);
        connection.TryEnqueue(SseFrame.Create(id: null, "connected", connected, retry));

        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var logger = loggerFactory.CreateLogger(typeof(CacheEventsEndpoint));
        registry.Add(connection);
        metrics.ConnectionOpened(tenant);
        LogConnected(logger, connection.Id, tenant);
        try
        {
            await connection.RunAsync(response.BodyWriter, aborted);
        }
        finally
        {
            registry.Remove(connection);
            metrics.ConnectionClosed(tenant);
            LogDisconnected(logger, connection.Id, tenant, connection.Overflowed);
        }

        // The response was written above; nothing is left to send.
        return Results.Empty;
    }

    private static bool AcceptsEventStream(HttpRequest request)
    {
        if (request.Headers.Accept.Count == 0)
        {
            return true;
        }

        if (!MediaTypeHeaderValue.TryParseList(request.Headers.Accept, out var accepted))
        {
            return false;
        }

        return accepted.Any(media => media.MatchesAllTypes
            || media.MediaType.Equals("text/*", StringComparison.OrdinalIgnoreCase)
            || media.MediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase));
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection {ConnectionId} of tenant {Tenant} opened")]
    private static partial void LogConnected(ILogger logger, string connectionId, string tenant);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection {ConnectionId} of tenant {Tenant} closed (too slow: {Overflowed})")]
    private static partial void LogDisconnected(ILogger logger, string connectionId, string tenant, bool overflowed);
}

/// <summary>The data of the <c>connected</c> event.</summary>
/// <param name="ConnectionId">The connection's id.</param>
/// <param name="Tenant">The tenant the connection belongs to.</param>
/// <param name="Timestamp">When the server accepted the connection.</param>
public sealed record ConnectedData(string ConnectionId, string Tenant, DateTimeOffset Timestamp);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ConnectedData))]
internal sealed partial class ConnectedJson : System.Text.Json.Serialization.JsonSerializerContext;
