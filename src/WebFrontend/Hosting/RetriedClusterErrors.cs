using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// Orleans logs some failures at Error that it retries by itself and that end once the cluster has settled: a message
/// that reached a silo while it was stopping ("Silo … is shutting down"), a call rejected because its target silo just
/// left, a message for the cluster client of a silo's previous run. A rolling deploy produces a few of them on
/// whichever silos happen to be talking to the one that stops, although nothing is lost and no caller sees a failure.
/// This logger factory writes exactly those entries at Warning (same category, event id, text and exception) and leaves
/// every other entry as it was, so an Error line still means something an operator must look at.
/// </summary>
internal sealed class RetriedClusterErrors(ILoggerFactory inner) : ILoggerFactory
{
    /// <summary>Wraps the host's logger factory with this one.</summary>
    public static void Register(IServiceCollection services) =>
        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(provider => new RetriedClusterErrors(new LoggerFactory(
            provider.GetServices<ILoggerProvider>(),
            provider.GetRequiredService<IOptionsMonitor<LoggerFilterOptions>>(),
            provider.GetService<IOptions<LoggerFactoryOptions>>(),
            provider.GetService<IExternalScopeProvider>()))));

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        // Orleans' own categories, and Polly's, which logs the last attempt of Orleans' placement retries.
        return categoryName.StartsWith("Orleans", StringComparison.Ordinal) || categoryName == "Polly" ? new Lowering(logger) : logger;
    }

    /// <inheritdoc />
    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    /// <inheritdoc />
    public void Dispose() => inner.Dispose();

    /// <summary>
    /// True when <paramref name="exception"/> (or a cause) says a silo was stopping or had left: Orleans re-routes
    /// or retries such a message once membership has caught up.
    /// </summary>
    internal static bool IsPeerLeaving(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is SiloUnavailableException or OrleansMessageRejectionException or ClientNotAvailableException)
            {
                return true;
            }

            if (current is AggregateException aggregate && aggregate.InnerExceptions.All(IsPeerLeaving))
            {
                return true;
            }
        }

        return false;
    }

    private sealed class Lowering(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        // An Error may come out as a Warning, so it counts as enabled when Warnings are.
        public bool IsEnabled(LogLevel logLevel) =>
            inner.IsEnabled(logLevel) || (logLevel == LogLevel.Error && inner.IsEnabled(LogLevel.Warning));

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Error && IsPeerLeaving(exception))
            {
                logLevel = LogLevel.Warning;
            }

            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
