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

/// <summary>The life of one SSE stream that <see cref="CacheEventsEndpoint"/> admitted.</summary>
internal static partial class EventStreamSession
{
    /// <summary>
    /// Serves one admitted stream from its subscription to its close: subscribes (the head goes out early when that is
    /// slow), registers the connection at its place in the tenant's order, writes <c>connected</c> and any replay, runs
    /// the connection until the client leaves, the credential expires or the server stops, then gives back what it held.
    /// </summary>
    public static async Task<IResult> ServeAsync(
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
                await Task.WhenAny(subscribing, Task.Delay(EventStreamResponse.HeadWait, aborted));
                if (!subscribing.IsCompleted)
                {
                    await EventStreamResponse.StartBeforeSubscribedAsync(context);
                }
            }

            await subscribing;
        }
        catch (ListenBudgetExceededException exception) when (context.Response.HasStarted)
        {
            // Found only after the head went out: the browser comes back later, and is then refused with the 429.
            limits.Unlisten(tenant, grant.Credential, interests);
            LogUnavailable(logger, tenant, "subscribing", exception);
            await EventStreamResponse.RetryLaterAsync(context, settings);
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
            await EventStreamResponse.RetryLaterAsync(context, settings);
            return Results.Empty;
        }
        catch (OperationCanceledException)
        {
            limits.Unlisten(tenant, grant.Credential, interests);
            return Results.Empty;
        }

        var connection = new SseConnection(registry.WriterShards, Guid.NewGuid().ToString("N"), tenant, settings.ConnectionQueueCapacity, format, interests, metrics)
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
        EventStreamResponse.Start(context);

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
                    response.BodyWriter.Write(EventStreamResponse.RetryFrame(settings));
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
