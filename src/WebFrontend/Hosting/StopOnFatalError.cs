namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// What this silo does when Orleans finds it can no longer be part of the cluster, typically because it was frozen
/// (a long pause, SIGSTOP) and the others declared it dead meanwhile. Orleans' default ends the process at once
/// (<c>Environment.FailFast</c>), cutting its browsers' streams; this stops the host instead, so its streams end with a
/// reconnect hint like any other stop, and the process exits with code 70 for its supervisor to start it again (as a
/// new silo: a dead one never rejoins). If the stop itself hangs, the process still ends after 30 s.
/// </summary>
internal sealed partial class StopOnFatalError(IHostApplicationLifetime lifetime, ILogger<StopOnFatalError> logger) : IFatalErrorHandler
{
    /// <summary>The exit code of a silo that stopped because the cluster declared it dead.</summary>
    public const int ExitCode = 70;

    private int _stopping;

    /// <inheritdoc />
    public bool IsUnexpected(Exception exception) => exception is not ThreadAbortException;

    /// <inheritdoc />
    public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
    {
        if (Interlocked.Exchange(ref _stopping, 1) != 0)
        {
            return;
        }

        LogStopping(logger, context ?? "", exception);
        Environment.ExitCode = ExitCode;

        // Called from inside membership processing, which must not wait on the stop it starts.
        _ = Task.Run(lifetime.StopApplication);
        _ = Task.Delay(TimeSpan.FromSeconds(30)).ContinueWith(
            _ => Environment.FailFast($"The silo did not stop within 30 s of a fatal error: {context}"), TaskScheduler.Default);
    }

    [LoggerMessage(EventId = 5000, Level = LogLevel.Error, Message = "This silo can no longer be part of the cluster ({Context}); stopping, so its streams move to the other silos")]
    private static partial void LogStopping(ILogger logger, string context, Exception? exception);
}
