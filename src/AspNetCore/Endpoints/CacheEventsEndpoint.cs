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
            StartEventStream(context);
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
            return await ServeAsync(context, registry, subscriptions, grains, metrics, limits, settings, grant, interests, format, loggerFactory);
        }
        finally
        {
            limits.Release(tenant, address, grant.Credential);
        }
    }

    private static async Task<IResult> ServeAsync(
        HttpContext context,
        ConnectionRegistry registry,
        TopicSubscriptions subscriptions,
        IGrainFactory grains,
        CountCachulaMetrics metrics,
        ConnectionLimits limits,
        CountCachulaOptions settings,
        CallerGrant grant,
        Interest[] interests,
        SseFormat format,
        ILoggerFactory loggerFactory)
    {
        var tenant = grant.Tenant;
        var aborted = context.RequestAborted;
        var logger = loggerFactory.CreateLogger(typeof(CacheEventsEndpoint));

        // One credential's share of the tenant's tags first: it may never spend the budget of the tenant's other users.
        if (limits.TryListen(tenant, grant.Credential, interests, settings.MaxListenedTagsPerCredential) is { } overShare)
        {
            return ConnectionInterests.TooMany(context.Response, "Too many distinct tags for this credential", overShare);
        }

        // Subscribe before announcing the connection: once the browser sees 'connected', nothing published later is
        // missed. Bounded, and never answered with a non-200 for a transient cause: EventSource gives up for good on one.
        try
        {
            var subscribing = subscriptions.AcquireConnectionAsync(tenant, interests, aborted);
            if (!subscribing.IsCompleted)
            {
                await Task.WhenAny(subscribing, Task.Delay(HeadWait, aborted));
                if (!subscribing.IsCompleted)
                {
                    await StartBeforeSubscribedAsync(context);
                }
            }

            await subscribing;
        }
        catch (ListenBudgetExceededException exception) when (context.Response.HasStarted)
        {
            // Found only after the head went out: the browser comes back later, and is then refused with the 429.
            limits.Unlisten(tenant, grant.Credential, interests);
            LogUnavailable(logger, tenant, "subscribing", exception);
            await RetryLaterAsync(context, settings);
            return Results.Empty;
        }
        catch (ListenBudgetExceededException exception)
        {
            limits.Unlisten(tenant, grant.Credential, interests);
            return ConnectionInterests.TooMany(context.Response, "Too many distinct tags", exception.Message);
        }
        catch (Exception exception) when (!aborted.IsCancellationRequested)
        {
            limits.Unlisten(tenant, grant.Credential, interests);
            LogUnavailable(logger, tenant, "subscribing", exception);
            await RetryLaterAsync(context, settings);
            return Results.Empty;
        }
        catch (OperationCanceledException)
        {
            limits.Unlisten(tenant, grant.Credential, interests);
            return Results.Empty;
        }

        var connection = new SseConnection(Guid.NewGuid().ToString("N"), tenant, settings.ConnectionQueueCapacity, format, interests, metrics)
        {
            Grant = grant,
            StreamKey = StreamKey.Create(),
            MaxQueuedBytes = settings.ConnectionQueueBytes,
            SlowReaderGrace = settings.SlowReaderGrace,
            Logger = logger,
        };
        var jitter = (int)settings.RetryJitter.TotalMilliseconds;
        var retry = (int)settings.Retry.TotalMilliseconds + (jitter > 0 ? Random.Shared.Next(jitter + 1) : 0);
        var response = context.Response;
        StartEventStream(context);

        // Registered at its place in the tenant's order: from here on it misses no event, and gets none this server
        // knew of before (unless it asked to resume, then from its resume point, read here when this server holds it).
        var replay = ReplayRequest.From(context.Request);
        var local = subscriptions.Open(connection, replay is { Unreadable: false } ? replay.AfterSequence : null, replay?.Since);

        // A new stream's 'connected' carries the point it starts after as its id: a browser that loses the stream
        // before its first event then resumes from there, instead of reconnecting with no id and missing what came
        // in between. A resumed stream keeps the id the browser already has.
        var connected = JsonSerializer.Serialize(new ConnectedData(connection.Id, tenant, DateTimeOffset.UtcNow, connection.StreamKey), ConnectedJson.Default.ConnectedData);
        var startId = replay is null ? connection.StartedAfter.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        var connectedFrame = SseFrame.Create(startId, "connected", connected, retry);
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
            if (local is not null)
            {
                first.AddRange(ReplayRequest.Frames(local.Events, connection, local.Through));
                through = local.Through;
                metrics.Replayed(complete: true);
            }
            else if (replay is not null)
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
                // Kestrel must not end a body whose last chunk may be cut short, nor wait to flush one its client does
                // not read: aborting frees what it and the kernel hold for the stream.
                if (connection.Stalled)
                {
                    LogStalled(logger, connection.Id, tenant, settings.SlowReaderGrace);
                }

                context.Abort();
            }
        }
        catch (Exception exception) when (aborted.IsCancellationRequested && exception is OperationCanceledException or IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            // The client went away while the stream was starting, or the server closed the connection while stopping.
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

            limits.Unlisten(tenant, grant.Credential, held);
            await subscriptions.ReleaseConnectionAsync(tenant, held);
            LogDisconnected(logger, connection.Id, tenant, connection.Coalescings);
        }

        // The response was written above; nothing is left to send.
        return Results.Empty;
    }

    private static void StartEventStream(HttpContext context)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    /// <summary>
    /// How long subscribing may take before the response head goes out without waiting for it. A balancer that has not
    /// seen the head within its read timeout tries another server and, once it runs out of them, answers the browser
    /// 504, after which EventSource gives up for good; that happens in a reconnect storm on the survivors of a silo
    /// that died, or while a silo is frozen. With the head out, the wait happens inside a 200 stream.
    /// </summary>
    internal static readonly TimeSpan HeadWait = TimeSpan.FromMilliseconds(250);

    /// <summary>Sends the 200 head of the event stream before it is subscribed (see <see cref="HeadWait"/>).</summary>
    private static async Task StartBeforeSubscribedAsync(HttpContext context)
    {
        try
        {
            StartEventStream(context);
            await context.Response.StartAsync(context.RequestAborted);
            await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client left: the subscription, cancelled with its request, ends the stream.
        }
    }

    /// <summary>A stream the cluster cannot serve right now: 200, a short <c>retry:</c>, and the end.</summary>
    private static async Task RetryLaterAsync(HttpContext context, CountCachulaOptions settings)
    {
        StartEventStream(context);
        context.Response.BodyWriter.Write(RetryFrame(settings));
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static byte[] RetryFrame(CountCachulaOptions settings) =>
        System.Text.Encoding.UTF8.GetBytes($": temporarily unavailable, reconnect\nretry: {(int)settings.UnavailableRetry.TotalMilliseconds}\n\n");

    private static readonly SseFrame s_expired = SseFrame.Create(id: null, "auth-expired", """{"reason":"token-expired"}""");

    private static TimeSpan Until(DateTime atUtc)
    {
        var wait = atUtc - DateTime.UtcNow;
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > TimeSpan.FromDays(40) ? TimeSpan.FromDays(40) : wait;
    }

    [LoggerMessage(EventId = 4080, Level = LogLevel.Information, Message = "A stream of tenant {Tenant} was asked to reconnect: {Phase} failed")]
    private static partial void LogUnavailable(ILogger logger, string tenant, string phase, Exception exception);

    [LoggerMessage(EventId = 4081, Level = LogLevel.Debug, Message = "Connection {ConnectionId} of tenant {Tenant} opened")]
    private static partial void LogConnected(ILogger logger, string connectionId, string tenant);

    [LoggerMessage(EventId = 4082, Level = LogLevel.Information, Message = "Connection {ConnectionId} of tenant {Tenant} let go: its client took nothing written to it for {Grace} (CountCachula:SlowReaderGrace)")]
    private static partial void LogStalled(ILogger logger, string connectionId, string tenant, TimeSpan grace);

    [LoggerMessage(EventId = 4083, Level = LogLevel.Debug, Message = "Connection {ConnectionId} of tenant {Tenant} closed (times its queue was coalesced: {Coalescings})")]
    private static partial void LogDisconnected(ILogger logger, string connectionId, string tenant, int coalescings);
}
