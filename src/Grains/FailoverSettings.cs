using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace CountCachula.Grains;

/// <summary>
/// The failover settings a silo gets from <c>AddCountCachula</c>, and the one it cannot choose for the application.
/// </summary>
/// <remarks>
/// A call waiting on a silo that died fails when membership declares it dead; <see cref="ResponseTimeout"/> bounds
/// every other call that never gets an answer, so a publish or a connect waits at most that long for the cluster.
/// How fast a dead silo is declared dead (membership probing) is a property of the whole cluster, shared with the
/// application's own grains, so it stays the application's choice: when it is left at Orleans' defaults on a real
/// cluster, this check says once at start what that costs.
/// </remarks>
internal sealed partial class FailoverSettings(
    IServiceProvider services,
    IOptions<ClusterMembershipOptions> membership,
    ILogger<FailoverSettings> logger) : IHostedService
{
    /// <summary>The response timeout given to silos and clients that keep Orleans' default (30 s).</summary>
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Orleans' own default response timeout, which <c>AddCountCachula</c> replaces.</summary>
    public static readonly TimeSpan OrleansResponseTimeout = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var options = membership.Value;
        var defaults = new ClusterMembershipOptions();
        var development = services.GetService<IMembershipTable>()?.GetType().Name == "SystemTargetBasedMembershipTable";
        if (!development && options.ProbeTimeout == defaults.ProbeTimeout && options.NumMissedProbesLimit == defaults.NumMissedProbesLimit)
        {
            LogDefaultProbing(logger, options.ProbeTimeout, options.NumMissedProbesLimit);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 3060, Level = LogLevel.Warning, Message =
        "Cluster membership probing is at Orleans' defaults (ProbeTimeout {ProbeTimeout}, NumMissedProbesLimit {Missed}): a silo that dies is declared dead " +
        "only after about 15 s, and until then its browsers cannot catch up and publishes to grains it held wait. Count Cachula's failover " +
        "figures assume ClusterMembershipOptions.ProbeTimeout = 1 s and NumMissedProbesLimit = 2 (docs/operations.md, \"Failover\").")]
    private static partial void LogDefaultProbing(ILogger logger, TimeSpan probeTimeout, int missed);
}
