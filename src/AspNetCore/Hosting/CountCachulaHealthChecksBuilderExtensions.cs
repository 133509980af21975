using CountCachula.AspNetCore.Endpoints;
using Microsoft.Extensions.Diagnostics.HealthChecks;

// Beside IHealthChecksBuilder's other AddXxx methods, as ASP.NET Core's own are.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the hub's readiness to an application's health checks.</summary>
public static class CountCachulaHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds the check <c>delivery</c>, tagged <c>ready</c>: unhealthy while this process cannot deliver events to its
    /// streams. The process's own readiness (its silo, or its Orleans client) is the application's check.
    /// </summary>
    /// <param name="builder">The builder of <c>services.AddHealthChecks()</c>.</param>
    /// <param name="tags">The check's tags; <c>ready</c> unless given.</param>
    /// <returns>The same builder.</returns>
    public static IHealthChecksBuilder AddCountCachula(this IHealthChecksBuilder builder, params string[] tags) =>
        builder.AddCheck<DeliveryHealthCheck>("delivery", HealthStatus.Unhealthy, tags.Length > 0 ? tags : ["ready"]);
}
