using CountCachula.AspNetCore.Hosting;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// Keeps this frontend able to deliver: every <see cref="CountCachulaOptions.InboxCheckInterval"/> it checks each
/// tenant's inbox subscription, and when membership declares a silo dead (its topic grains lost their in-memory
/// listeners) it has every tenant register again and recover from the history.
/// </summary>
internal sealed partial class DeliveryMonitor(
    TopicSubscriptions subscriptions,
    IServiceProvider services,
    IOptions<CountCachulaOptions> options,
    ILogger<DeliveryMonitor> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(CheckLoopAsync(stoppingToken), WatchMembershipAsync(stoppingToken));

    private async Task CheckLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.InboxCheckInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await subscriptions.CheckAllAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task WatchMembershipAsync(CancellationToken stoppingToken)
    {
        // Only a silo sees membership; a client-tier frontend relies on its periodic checks and epochs.
        if (services.GetService<IClusterMembershipService>() is not { } membership)
        {
            return;
        }

        HashSet<SiloAddress>? dead = null;
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                var now = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress).ToHashSet();
                var newlyDead = dead is null ? [] : now.Where(s => !dead.Contains(s)).ToList();
                dead = now;
                if (newlyDead.Count > 0)
                {
                    LogSiloDead(logger, string.Join(", ", newlyDead));
                    _ = RecoverTwiceAsync($"silo {string.Join(", ", newlyDead)} was declared dead", stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>
    /// Recovers at once, again a second later and once more one check interval later: right after a silo's death
    /// the history segments or topic grains it hosted may not be reachable yet (the first pass then fails, and waiting
    /// for the next check would make its events seconds late), and while the cluster converges a topic grain can
    /// briefly exist twice, so a registration that landed on the copy that loses would otherwise go unseen.
    /// </summary>
    private async Task RecoverTwiceAsync(string reason, CancellationToken stoppingToken)
    {
        await subscriptions.RecoverAllAsync(reason);
        try
        {
            var soon = TimeSpan.FromSeconds(1) < options.Value.InboxCheckInterval ? TimeSpan.FromSeconds(1) : options.Value.InboxCheckInterval;
            await Task.Delay(soon, stoppingToken);
            await subscriptions.RecoverAllAsync(reason + " (second pass)");
            await Task.Delay(options.Value.InboxCheckInterval - soon, stoppingToken);
            await subscriptions.RecoverAllAsync(reason + " (third pass)");
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Membership declared {Silos} dead: registering again and recovering every tenant")]
    private static partial void LogSiloDead(ILogger logger, string silos);
}
