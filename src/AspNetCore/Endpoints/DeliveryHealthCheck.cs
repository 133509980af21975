using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Streaming;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>
/// Ready only while this frontend can deliver: the inbox subscription of every tenant with connections here was
/// verified against the cluster's stream pub-sub recently, and it is not stopping. A frontend that cannot deliver, or is
/// about to stop, should not get new streams.
/// </summary>
internal sealed class DeliveryHealthCheck(TopicSubscriptions subscriptions, StreamDrain drain) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(
            drain.Draining ? HealthCheckResult.Unhealthy("This server is stopping: its streams are being sent elsewhere.")
            : subscriptions.DeliveryProblem() is { } problem ? HealthCheckResult.Unhealthy(problem)
            : HealthCheckResult.Healthy($"{subscriptions.Count} inbox subscription(s) verified."));
}
