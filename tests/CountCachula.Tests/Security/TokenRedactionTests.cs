using System.Collections.Concurrent;
using System.Net;
using CountCachula.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CountCachula.Tests.Security;

/// <summary>
/// A token in <c>?access_token=</c> never reaches a log, even when the configuration asks for every request line at
/// Trace — in appsettings style, on the command line, and in code.
/// </summary>
public sealed class TokenRedactionTests
{
    [Fact]
    public async Task An_access_token_in_the_query_is_written_to_no_log_line()
    {
        var capture = new CapturingLoggerProvider();
        await using var frontend = await TestFrontend.StartAsync("redact-" + Guid.NewGuid().ToString("N")[..8], settings:
            [
                .. ProductionFixture.Settings,
                new("Logging:LogLevel:Default", "Trace"),
                new("Logging:LogLevel:Orleans", "Warning"),
                new("Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics", "Trace"),
                new("Logging:Capture:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics", "Trace"),
            ],
            configure: builder =>
            {
                builder.Logging.ClearProviders();
                builder.Logging.AddProvider(capture);
                builder.Logging.SetMinimumLevel(LogLevel.Trace);
                builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Trace);
            });
        var token = ProductionFixture.Token(tags: ["*"]);

        await using (var stream = await SseClient.ConnectAsync(frontend.Http, "/api/cache-events?access_token=" + token))
        {
            await stream.NextOfTypeAsync("connected", "a stream opened with ?access_token=");
        }

        using var refused = await frontend.Http.GetAsync("/dashboard?access_token=" + token);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);

        // The capture works (the app's own start-up line is there) and holds nothing with the token.
        Assert.Contains(capture.Messages, m => m.Contains("Authentication is on", StringComparison.Ordinal));
        Assert.DoesNotContain(capture.Messages, m => m.Contains(token, StringComparison.Ordinal) || m.Contains(token[..40], StringComparison.Ordinal));
        Assert.DoesNotContain(capture.Messages, m => m.Contains("access_token=", StringComparison.Ordinal));
    }

    /// <summary>Keeps every message, formatted as a provider would write it.</summary>
    [ProviderAlias("Capture")]
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Messages);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Enqueue($"{category}: {formatter(state, exception)} {exception}");
        }
    }
}
