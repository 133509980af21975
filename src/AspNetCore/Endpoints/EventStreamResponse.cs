using System.Buffers;
using Microsoft.AspNetCore.Http.Features;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>
/// The HTTP side of an event stream that is not a stream of events yet: its head, sent early when subscribing is slow,
/// and the 200 with a short <c>retry:</c> that asks a browser to come back when the cluster cannot serve it now
/// (EventSource gives up for good on any other status).
/// </summary>
internal static class EventStreamResponse
{
    /// <summary>Sets the head of an event stream (200, <c>text/event-stream</c>, no caching, no buffering) unless it went out already.</summary>
    public static void Start(HttpContext context)
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
    public static readonly TimeSpan HeadWait = TimeSpan.FromMilliseconds(250);

    /// <summary>Sends the 200 head of the event stream before it is subscribed (see <see cref="HeadWait"/>).</summary>
    public static async Task StartBeforeSubscribedAsync(HttpContext context)
    {
        try
        {
            Start(context);
            await context.Response.StartAsync(context.RequestAborted);
            await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client left: the subscription, cancelled with its request, ends the stream.
        }
    }

    /// <summary>A stream the cluster cannot serve right now: 200, a short <c>retry:</c>, and the end.</summary>
    public static async Task RetryLaterAsync(HttpContext context, CountCachulaOptions settings)
    {
        Start(context);
        context.Response.BodyWriter.Write(RetryFrame(settings));
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    /// <summary>The body of a stream the cluster cannot serve right now: a comment and a short <c>retry:</c>.</summary>
    public static byte[] RetryFrame(CountCachulaOptions settings) =>
        System.Text.Encoding.UTF8.GetBytes($": temporarily unavailable, reconnect\nretry: {(int)settings.UnavailableRetry.TotalMilliseconds}\n\n");
}
