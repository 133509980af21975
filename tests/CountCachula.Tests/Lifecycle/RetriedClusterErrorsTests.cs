using System.Collections.Concurrent;
using CountCachula.WebFrontend;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CountCachula.Tests.Lifecycle;

/// <summary>
/// The host writes Orleans' errors about a peer that is stopping or has left (which Orleans retries by itself) as
/// warnings, and every other error as an error.
/// </summary>
public sealed class RetriedClusterErrorsTests
{
    [Fact]
    public async Task Orleans_errors_about_a_leaving_silo_are_warnings_and_every_other_error_stays_an_error()
    {
        var capture = new CapturingLoggerProvider();
        await using var app = FrontendHost.Build(["--environment", "Development"], builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(capture);
        });
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        var leaving = new SiloUnavailableException("Silo 'S127.0.0.1:11111:1' is shutting down.");

        loggers.CreateLogger("Orleans.Messaging").LogError(new EventId(100071), leaving, "Failed to address message");
        loggers.CreateLogger("Orleans.Streams.PersistentStreamPullingAgent").LogError(new InvalidOperationException("a bug"), "Something else failed");
        loggers.CreateLogger("CountCachula.Grains.CacheHubGrain").LogError(leaving, "The hub's own error");

        Assert.Equal(
            [
                "Warning Orleans.Messaging 100071 Failed to address message",
                "Error Orleans.Streams.PersistentStreamPullingAgent 0 Something else failed",
                "Error CountCachula.Grains.CacheHubGrain 0 The hub's own error",
            ],
            capture.Entries.Where(e => e.Contains(" failed", StringComparison.Ordinal) || e.Contains("Failed to", StringComparison.Ordinal) || e.Contains("own error", StringComparison.Ordinal)));
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Entries);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<string> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue($"{logLevel} {category} {eventId.Id} {formatter(state, exception)}");
        }
    }
}
