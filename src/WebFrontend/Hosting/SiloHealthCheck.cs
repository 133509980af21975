using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CountCachula.WebFrontend.Hosting;

/// <summary>Ready when this process's silo is an active member of its cluster: before that, streams cannot reach it.</summary>
public sealed class SiloHealthCheck(ISiloStatusOracle oracle) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(oracle.CurrentStatus == SiloStatus.Active
            ? HealthCheckResult.Healthy($"Silo {oracle.SiloAddress} is active.")
            : HealthCheckResult.Unhealthy($"Silo {oracle.SiloAddress} is {oracle.CurrentStatus}."));
}
