using System.Net.Sockets;

namespace CountCachula.AspNetCore.Publishing;

/// <summary>
/// Tells a failure that retrying will cure (the hub moving between silos, its storage briefly unreachable, a second
/// activation losing the sequence) from a bug. Publishers are told the first kind with 503 and <c>Retry-After</c>.
/// </summary>
internal static class TransientFailures
{
    /// <summary>
    /// True when the failure is transient, or this server is stopping: whatever failed, another server can take the
    /// same publish, so the caller is told to retry rather than that it sent something wrong.
    /// </summary>
    public static bool IsTransient(Exception exception, HttpContext context) =>
        IsTransient(exception)
        || context.RequestServices.GetService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>()?.ApplicationStopping.IsCancellationRequested == true;

    /// <summary>The <c>Retry-After</c> (seconds) sent with a 503.</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>True when <paramref name="exception"/> or one of its causes is transient.</summary>
    public static bool IsTransient(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            // A cluster client that is being disposed (this server was declared dead and is stopping) or a call given up
            // on: the same publish succeeds through another server.
            if (current is HubUnavailableException or OrleansException or TimeoutException or IOException or SocketException
                or ObjectDisposedException or OperationCanceledException
                || current.GetType().Namespace?.Contains("Redis", StringComparison.Ordinal) == true)
            {
                return true;
            }

            if (current is AggregateException aggregate && aggregate.InnerExceptions.Any(IsTransient))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The 503 ProblemDetails for a transient failure, with <c>Retry-After</c> set on <paramref name="response"/>.</summary>
    public static IResult Unavailable(HttpResponse response, Exception exception)
    {
        response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Problem(
            statusCode: StatusCodes.Status503ServiceUnavailable,
            title: "The hub is temporarily unavailable",
            detail: $"Nothing was published ({exception.GetType().Name}). Retry after {RetryAfterSeconds} s; send the same Idempotency-Key so a retry can never publish twice.");
    }
}
