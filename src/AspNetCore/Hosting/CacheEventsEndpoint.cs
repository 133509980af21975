using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using CountCachula.AspNetCore.Connections;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Security;
using CountCachula.AspNetCore.Streaming;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace CountCachula.AspNetCore.Hosting;

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
            .RequireAuthorization(CountCachulaPolicies.Operator);
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

        if (RequestChecks.QueryProblem(context.Request) is { } queryProblem)
        {
            return queryProblem;
        }

        if (!TryReadFormat(context.Request, out var format, out var formatProblem))
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
        if (limits.TryAcquire(tenant, address, settings.MaxConnectionsPerTenant, settings.MaxConnectionsPerIp) is { } full)
        {
            context.Response.Headers.RetryAfter = "30";
            return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many streams", detail: full);
        }

        try
        {
            return await ServeAsync(context, registry, subscriptions, grains, metrics, settings, grant, interests, format, loggerFactory);
        }
        finally
        {
            limits.Release(tenant, address);
        }
    }

    private static async Task<IResult> ServeAsync(
        HttpContext context,
        ConnectionRegistry registry,
        TopicSubscriptions subscriptions,
        IGrainFactory grains,
        CountCachulaMetrics metrics,
        CountCachulaOptions settings,
        CallerGrant grant,
        Interest[] interests,
        SseFormat format,
        ILoggerFactory loggerFactory)
    {
        var tenant = grant.Tenant;
        var aborted = context.RequestAborted;
        var logger = loggerFactory.CreateLogger(typeof(CacheEventsEndpoint));

        // Subscribe before announcing the connection: once the browser sees 'connected', nothing published later is
        // missed. Bounded, and never answered with a non-200 for a transient cause: EventSource gives up for good on one.
        try
        {
            await subscriptions.AcquireConnectionAsync(tenant, interests, aborted);
        }
        catch (ListenBudgetExceededException exception)
        {
            context.Response.Headers.RetryAfter = "30";
            return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many distinct tags", detail: exception.Message);
        }
        catch (Exception exception) when (!aborted.IsCancellationRequested)
        {
            LogUnavailable(logger, tenant, "subscribing", exception);
            await RetryLaterAsync(context, settings);
            return Results.Empty;
        }
        catch (OperationCanceledException)
        {
            return Results.Empty;
        }

        var connection = new SseConnection(Guid.NewGuid().ToString("N"), tenant, settings.ConnectionQueueCapacity, format, interests, metrics)
        {
            Grant = grant,
            StreamKey = StreamKey.Create(),
        };
        var retry = settings.RetryMilliseconds + (settings.RetryJitterMilliseconds > 0 ? Random.Shared.Next(settings.RetryJitterMilliseconds + 1) : 0);
        var connected = JsonSerializer.Serialize(new ConnectedData(connection.Id, tenant, DateTimeOffset.UtcNow, connection.StreamKey), ConnectedJson.Default.ConnectedData);
        var connectedFrame = SseFrame.Create(id: null, "connected", connected, retry);

        var response = context.Response;
        StartEventStream(context);
        registry.Add(connection);
        metrics.ConnectionOpened(tenant);
        LogConnected(logger, connection.Id, tenant);
        try
        {
            // 'connected' goes out at once; live events queue on the connection meanwhile (it is registered), and the
            // replay, inserted before them, covers everything up to its 'through'.
            response.BodyWriter.Write(connectedFrame.Bytes.Span);
            var headFlush = response.BodyWriter.FlushAsync(aborted);
            var socket = SocketWriteEligibility.WriterFor(context, settings, headFlush.IsCompletedSuccessfully);
            await headFlush;
            List<SseFrame> first = [];
            var through = 0L;
            if (ReplayRequest.From(context.Request) is { } replay)
            {
                try
                {
                    var (frames, replayedThrough, complete) = await replay.ReplayAsync(grains, connection).WaitAsync(settings.SubscribeTimeout, aborted);
                    metrics.Replayed(complete);
                    first.AddRange(frames);
                    through = replayedThrough;
                }
                catch (Exception exception) when (!aborted.IsCancellationRequested)
                {
                    // The history is not reachable right now: no reset (nothing is known to be lost); the browser
                    // comes back shortly with the same Last-Event-ID.
                    LogUnavailable(logger, tenant, "reading the replay", exception);
                    response.BodyWriter.Write(RetryFrame(settings));
                    await response.BodyWriter.FlushAsync(aborted);
                    return Results.Empty;
                }
            }

            // A stream lives no longer than its credential: at expiry it says why and ends (the browser reconnects
            // with a fresh token, or not at all).
            using var expiry = grant.ExpiresAtUtc is { } expiresAt
                ? new Timer(static state => ((SseConnection)state!).Finish(s_expired), connection, Until(expiresAt), Timeout.InfiniteTimeSpan)
                : null;
            await connection.RunAsync(response.BodyWriter, first, through, aborted, socket);
            if (connection.BodyBroken)
            {
                // Kestrel must not end a body whose last chunk may be cut short.
                context.Abort();
            }
        }
        catch (Exception exception) when (aborted.IsCancellationRequested && exception is OperationCanceledException or IOException)
        {
            // The client went away while the stream was starting.
        }
        finally
        {
            Interest[] held;
            await connection.InterestGate.WaitAsync(CancellationToken.None);
            try
            {
                connection.Closed = true;
                registry.Remove(connection);
                metrics.ConnectionClosed(tenant);
                held = [.. connection.Interests];
            }
            finally
            {
                connection.InterestGate.Release();
            }

            await subscriptions.ReleaseConnectionAsync(tenant, held);
            LogDisconnected(logger, connection.Id, tenant, connection.Coalescings);
        }

        // The response was written above; nothing is left to send.
        return Results.Empty;
    }

    private static void StartEventStream(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    /// <summary>A stream the cluster cannot serve right now: 200, a short <c>retry:</c>, and the end.</summary>
    private static async Task RetryLaterAsync(HttpContext context, CountCachulaOptions settings)
    {
        StartEventStream(context);
        context.Response.BodyWriter.Write(RetryFrame(settings));
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static byte[] RetryFrame(CountCachulaOptions settings) =>
        System.Text.Encoding.UTF8.GetBytes($": temporarily unavailable, reconnect\nretry: {settings.UnavailableRetryMilliseconds}\n\n");

    private static readonly SseFrame s_expired = SseFrame.Create(id: null, "auth-expired", """{"reason":"token-expired"}""");

    private static TimeSpan Until(DateTime atUtc)
    {
        var wait = atUtc - DateTime.UtcNow;
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > TimeSpan.FromDays(40) ? TimeSpan.FromDays(40) : wait;
    }

    private static bool TryReadFormat(HttpRequest request, out SseFormat format, out IResult problem)
    {
        var requested = request.Query["format"].ToString();
        format = SseFormat.Default;
        problem = Results.Empty;
        switch (requested)
        {
            case "" or "default" or "countcachula":
                return true;
            case "json":
                format = SseFormat.Json;
                return true;
            default:
                problem = Results.ValidationProblem(
                    new Dictionary<string, string[]> { ["format"] = [$"Unknown format; use 'json' or leave it out for the default comma-joined format."] },
                    detail: "The 'format' query parameter must be 'json' or absent.");
                return false;
        }
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

    [LoggerMessage(Level = LogLevel.Information, Message = "A stream of tenant {Tenant} was asked to reconnect: {Phase} failed")]
    private static partial void LogUnavailable(ILogger logger, string tenant, string phase, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection {ConnectionId} of tenant {Tenant} opened")]
    private static partial void LogConnected(ILogger logger, string connectionId, string tenant);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection {ConnectionId} of tenant {Tenant} closed (times its queue was coalesced: {Coalescings})")]
    private static partial void LogDisconnected(ILogger logger, string connectionId, string tenant, int coalescings);
}

/// <summary>The data of the <c>connected</c> event.</summary>
/// <param name="ConnectionId">The connection's id.</param>
/// <param name="Tenant">The tenant the connection belongs to.</param>
/// <param name="Timestamp">When the server accepted the connection.</param>
/// <param name="StreamKey">
/// The stream's own secret: an interest change must send it as <c>X-Stream-Key</c>, so only the page that holds the
/// stream can change what it receives.
/// </param>
internal sealed record ConnectedData(string ConnectionId, string Tenant, DateTimeOffset Timestamp, string StreamKey);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ConnectedData))]
internal sealed partial class ConnectedJson : System.Text.Json.Serialization.JsonSerializerContext;
