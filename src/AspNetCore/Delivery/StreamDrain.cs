using CountCachula.AspNetCore.Sse;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// The first step of stopping: before the web server and the silo stop, this frontend stops taking streams, fails its
/// readiness, and ends every open stream with a short <c>retry:</c>, spread over <see cref="CountCachulaOptions.DrainWindow"/>
/// so the other servers are not stampeded by the reconnects. A stream that is ended this way loses nothing: its browser
/// comes back elsewhere with the <c>Last-Event-ID</c> of the last event it was written, and is replayed from there.
/// Without it, the host would wait for streams that never end until its shutdown timeout, then cut them.
/// </summary>
internal sealed partial class StreamDrain(
    ConnectionRegistry registry,
    IOptions<CountCachulaOptions> options,
    ILogger<StreamDrain> logger) : IHostedLifecycleService
{
    private const int Slices = 20;
    private volatile bool _draining;

    /// <summary>True once stopping began: new streams are told to reconnect elsewhere, readiness fails.</summary>
    public bool Draining => _draining;

    /// <inheritdoc />
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        var settings = options.Value;
        var open = Open();
        LogDraining(logger, open.Count, settings.DrainWindow);

        // Everything open now, in slices spread over the window; streams that open meanwhile are refused at the door.
        var slice = settings.DrainWindow / Slices;
        for (var i = 0; i < Slices && open.Count > 0; i++)
        {
            var take = (open.Count + (Slices - i) - 1) / (Slices - i);
            foreach (var connection in open[..take])
            {
                // What is still queued goes out from the server the browser reconnects to, as a replay: a busy stream
                // behind a slow reader ends now rather than after its backlog.
                connection.Finish(SseFrame.Reconnect((int)settings.Retry.TotalMilliseconds + Jitter(settings)), dropPending: true);
            }

            open = open[take..];
            if (open.Count > 0 && slice > TimeSpan.Zero)
            {
                await Task.Delay(slice, cancellationToken).ConfigureAwait(false);
            }
        }

        // Each stream ends once its last frame is written, behind whatever it still had queued; one that cannot be
        // written within EndWait (a client that stopped reading) is let go by the web server.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(EndWait);
        try
        {
            while (registry.Count > 0)
            {
                await registry.WhenChanged().WaitAsync(deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            LogStillOpen(logger, registry.Count);
            return;
        }

        LogDrained(logger);
    }

    /// <summary>
    /// How long the drain waits, after its window, for the last streams to write their reconnect hint. Busy streams
    /// on a loaded machine take a moment to get through their queues; this stays well inside a 5 s shutdown timeout.
    /// </summary>
    internal static readonly TimeSpan EndWait = TimeSpan.FromSeconds(3);

    private List<SseConnection> Open()
    {
        var open = new List<SseConnection>(registry.Count);
        foreach (var tenant in registry.Tenants)
        {
            open.AddRange(registry.Snapshot(tenant));
        }

        return open;
    }

    private static int Jitter(CountCachulaOptions settings) =>
        settings.RetryJitter > TimeSpan.Zero ? Random.Shared.Next((int)settings.RetryJitter.TotalMilliseconds + 1) : 0;

    /// <inheritdoc />
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 4040, Level = LogLevel.Information, Message = "Stopping: ending {Count} open stream(s) over {Window} with a reconnect hint; new streams are sent elsewhere")]
    private static partial void LogDraining(ILogger logger, int count, TimeSpan window);

    [LoggerMessage(EventId = 4041, Level = LogLevel.Information, Message = "Stopping: every stream has ended")]
    private static partial void LogDrained(ILogger logger);

    [LoggerMessage(EventId = 4042, Level = LogLevel.Information, Message = "Stopping: {Count} stream(s) had not ended after the drain; the web server closes them")]
    private static partial void LogStillOpen(ILogger logger, int count);
}
