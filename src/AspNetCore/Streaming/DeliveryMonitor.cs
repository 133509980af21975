using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// Keeps this frontend able to deliver: every <see cref="CountCachulaOptions.InboxCheckInterval"/> it checks that the
/// cluster still knows its stream subscriptions, and when a silo is lost (membership declares it dead, or, for an
/// Orleans client, a gateway connection closes) it has every tenant register again and recover from the history:
/// that silo's topic grains took their in-memory registrations with them.
/// </summary>
internal sealed partial class DeliveryMonitor(
    TopicSubscriptions subscriptions,
    IServiceProvider services,
    IOptions<CountCachulaOptions> options,
    ILogger<DeliveryMonitor> logger) : BackgroundService
{
    private readonly CancellationTokenSource _stopping = new();

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
                try
                {
                    await subscriptions.CheckAllAsync(stoppingToken);
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // A check that could not reach the cluster (a silo stopping or just gone) is made again on the next
                    // tick. It must never end this loop: a failed background service stops the whole host.
                    if (stoppingToken.IsCancellationRequested)
                    {
                        break;
                    }

                    LogCheckFailed(logger, exception.GetType().Name, exception.Message);
                }
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

    /// <summary>A silo may be gone (a client's gateway connection closed): register and recover every tenant.</summary>
    public void SiloLost(string reason) => _ = RecoverTwiceAsync(reason, _stopping.Token);

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await base.StopAsync(cancellationToken);
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

    [LoggerMessage(EventId = 4121, Level = LogLevel.Warning, Message = "Checking this server's subscriptions failed ({ExceptionType}: {Reason}); checking again on the next tick")]
    private static partial void LogCheckFailed(ILogger logger, string exceptionType, string reason);

    [LoggerMessage(EventId = 4120, Level = LogLevel.Information, Message = "Membership declared {Silos} dead: registering again and recovering every tenant")]
    private static partial void LogSiloDead(ILogger logger, string silos);
}
