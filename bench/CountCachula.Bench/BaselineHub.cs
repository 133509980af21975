using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using System.Text;

namespace CountCachula.Bench;

/// <summary>
/// The specification's <c>CacheHub</c> written literally, as the yardstick: a set of open streams, and a broadcast that
/// formats the event and then awaits each stream's write in turn. It serves the same endpoints as the real hub
/// (<c>GET /api/cache-events</c>, <c>POST /api/cache/invalidate</c>), without Orleans, interests, ids or replay, so the
/// benchmark can drive both with the same load. Run by the tool as a child process: <c>CountCachula.Bench --serve-baseline --urls URL</c>.
/// </summary>
internal static class BaselineHub
{
    private static readonly HashSet<Stream> s_streams = [];
    private static readonly Lock s_streamsLock = new();

    // Node serializes a stream's writes on its event loop; here concurrent broadcasts take turns on each stream.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Stream, SemaphoreSlim> s_gates = new();

    public static async Task<int> ServeAsync(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();

        app.MapGet("/api/cache-events", async context =>
        {
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            var body = context.Response.Body;
            var gate = new SemaphoreSlim(1, 1);
            s_gates.TryAdd(body, gate);
            await WriteAsync(body, gate, $"event: connected\ndata: {{\"connectionId\":\"{Guid.NewGuid():N}\"}}\n\n");
            lock (s_streamsLock)
            {
                s_streams.Add(body);
            }

            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // The client went away.
            }
            finally
            {
                lock (s_streamsLock)
                {
                    s_streams.Remove(body);
                }

                s_gates.TryRemove(body, out _);
            }
        });

        app.MapPost("/api/cache/invalidate", async (InvalidateBody request) =>
        {
            await BroadcastAsync("invalidate", string.Join(',', request.Tags ?? []));
            return Results.Ok(new { ok = true });
        });

        app.MapGet("/health/ready", () => "The specification's CacheHub, for comparison.");
        await app.RunAsync();
        return 0;
    }

    // The specification's broadcast: for each stream, await its write; a stream whose write fails is dropped.
    private static async Task BroadcastAsync(string eventName, string data)
    {
        var message = $"event: {eventName}\ndata: {data}\n\n";
        Stream[] streams;
        lock (s_streamsLock)
        {
            streams = [.. s_streams];
        }

        foreach (var stream in streams)
        {
            try
            {
                await WriteAsync(stream, s_gates.GetValueOrDefault(stream), message);
            }
            catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
            {
                lock (s_streamsLock)
                {
                    s_streams.Remove(stream);
                }
            }
        }
    }

    private static async Task WriteAsync(Stream stream, SemaphoreSlim? gate, string message)
    {
        if (gate is null)
        {
            return;
        }

        await gate.WaitAsync();
        try
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(message));
            await stream.FlushAsync();
        }
        finally
        {
            gate.Release();
        }
    }

    private sealed record InvalidateBody(string[]? Tags);
}
