using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// Ready while this client frontend is connected to at least one gateway of the hub cluster. The client only finishes
/// starting once connected, so it starts as connected; Orleans reports every change after that.
/// </summary>
internal sealed class ClusterClientHealthCheck : IHealthCheck, IClusterConnectionStatusObserver
{
    private volatile int _gateways = -1;

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_gateways switch
        {
            0 => HealthCheckResult.Unhealthy("The connection to the hub cluster is lost: no gateway answers."),
            -1 => HealthCheckResult.Healthy("Connected to the hub cluster."),
            var count => HealthCheckResult.Healthy($"Connected to the hub cluster through {count} gateway(s)."),
        });

    /// <inheritdoc />
    public void NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered) =>
        _gateways = currentNumberOfGateways;

    /// <inheritdoc />
    public void NotifyClusterConnectionLost() => _gateways = 0;
}
