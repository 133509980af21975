namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// An Orleans client sees no cluster membership; what it does see is its gateway connections. When one closes, the
/// silo behind it may have died and taken topic grains (and their registrations) with it, so the web tier registers
/// and recovers every tenant, as a silo's frontend does when membership declares a silo dead.
/// </summary>
internal sealed class GatewayLossWatcher(IServiceProvider services) : IClusterConnectionStatusObserver
{
    /// <inheritdoc />
    public void NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered)
    {
        if (currentNumberOfGateways < previousNumberOfGateways)
        {
            // Resolved when it happens: a publisher-only client registers this watcher but no SSE frontend.
            services.GetService<DeliveryMonitor>()?.SiloLost($"a gateway connection closed ({previousNumberOfGateways} → {currentNumberOfGateways})");
        }
    }

    /// <inheritdoc />
    public void NotifyClusterConnectionLost()
    {
        // Every gateway is gone; the count change above already asked for recovery, which retries until one is back.
    }
}
