using CountCachula.AspNetCore.Streaming;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CountCachula.AspNetCore.Hosting;

/// <summary>
/// Ready only while this frontend can deliver: the inbox subscription of every tenant with connections here was
/// verified against the cluster's stream pub-sub recently. A frontend that cannot deliver should not get new streams.
/// </summary>
internal sealed class DeliveryHealthCheck(TopicSubscriptions subscriptions) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(subscriptions.DeliveryProblem() is { } problem
            ? HealthCheckResult.Unhealthy(problem)
            : HealthCheckResult.Healthy($"{subscriptions.Count} inbox subscription(s) verified."));
}
