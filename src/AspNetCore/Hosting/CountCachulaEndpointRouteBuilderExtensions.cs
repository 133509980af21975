using System.Diagnostics.CodeAnalysis;
using CountCachula.AspNetCore;
using CountCachula.AspNetCore.Endpoints;
using CountCachula.AspNetCore.Hosting;

// Beside IEndpointRouteBuilder's other MapXxx methods, so an application needs no extra using to map the hub.
namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the Count Cachula endpoints: the event stream browsers subscribe to, and the HTTP publishing API.</summary>
public static class CountCachulaEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>GET {pattern}</c>, the Server-Sent Events stream (<c>connected</c>, then <c>invalidate</c>,
    /// <c>preload-hint</c>, custom events and a heartbeat), <c>POST {pattern}/{connectionId}/interests</c> (change the
    /// tags an open stream listens to) and <c>GET {pattern}/diagnostics</c> (this process's counters).
    /// </summary>
    /// <remarks>
    /// <c>?tags=user:123,posts:*</c> limits a stream to exact tags, prefix patterns and <c>*</c> (the default);
    /// <c>?format=json</c> selects the JSON format; <c>Last-Event-ID</c> resumes after the event with that id.
    /// Requires <see cref="CountCachulaServiceCollectionExtensions.AddCountCachula"/>,
    /// <see cref="CountCachulaServiceCollectionExtensions.AddCountCachulaAuthentication"/> and an Orleans silo or client in
    /// the same process. The stream reads its query the way <c>@countcachula/core</c> writes it (a literal <c>?</c>
    /// before <c>since=</c> after an existing query), with no middleware to add.
    /// </remarks>
    /// <param name="endpoints">The application or a route group.</param>
    /// <param name="pattern">The stream's route.</param>
    /// <returns>The group of endpoints, for <c>.RequireCors(...)</c>, <c>.RequireRateLimiting(...)</c> and the like.</returns>
    public static RouteGroupBuilder MapCacheEvents(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern = "/api/cache-events")
    {
        CountCachulaRegistration.EnsureAdded(endpoints, nameof(MapCacheEvents));
        return CacheEventsEndpoint.MapCacheEvents(endpoints, pattern);
    }

    /// <summary>
    /// Maps <c>POST {prefix}/invalidate</c> (<c>{"tags":[...]}</c>), <c>POST {prefix}/preload</c>
    /// (<c>{"routes":[...]}</c>) and <c>POST {prefix}/broadcast</c> (<c>{"event":"...","data":"..."}</c>), for
    /// publishers that are not Orleans grains or clients. Each answers 202 once the hub accepted the event, and a 4xx
    /// ProblemDetails naming the offending value otherwise.
    /// </summary>
    /// <remarks>
    /// Who may publish is decided by <see cref="CountCachulaOptions.Auth"/> (a token with the publish scope or an API
    /// key) and, without credentials configured, <see cref="CountCachulaOptions.AllowRemotePublishing"/>.
    /// </remarks>
    /// <param name="endpoints">The application or a route group.</param>
    /// <param name="prefix">The route prefix of the three endpoints.</param>
    /// <returns>The group of endpoints, for <c>.RequireCors(...)</c> and the like.</returns>
    public static RouteGroupBuilder MapCachePublishing(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string prefix = "/api/cache")
    {
        CountCachulaRegistration.EnsureAdded(endpoints, nameof(MapCachePublishing));
        return CachePublishingEndpoints.MapCachePublishing(endpoints, prefix);
    }
}
