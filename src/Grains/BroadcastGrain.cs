using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace CountCachula.Grains;

/// <summary>
/// The broadcast topic of one tenant: owns the listeners that want every event and those that want the events for
/// everyone (in memory), and routes to their inboxes. Reentrant and kept alive for the reasons of
/// <see cref="TagTopicGrain"/>.
/// </summary>
[Reentrant]
internal sealed class BroadcastGrain(
    IClusterMembershipService membership,
    IOptions<CountCachulaSiloOptions> options,
    ILogger<BroadcastGrain> logger) : Grain, IBroadcastGrain
{
    private const string Everything = "everything";
    private const string Notices = "notices";
    private readonly ListenerTable _table = new(options.Value.ClientListenerLease);
    private InboxRouter? _router;

    /// <inheritdoc />
    public Task Listen(string listenerId, BroadcastInterest interest)
    {
        _table.Add(listenerId, [Key(interest)]);
        KeepAliveWhileListened();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task Unlisten(string listenerId, BroadcastInterest interest)
    {
        _table.Remove(listenerId, [Key(interest)]);
        KeepAliveWhileListened();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task Route(CacheEvent cacheEvent)
    {
        var router = Router();
        if (router.PruneDead(_table))
        {
            KeepAliveWhileListened();
        }

        var address = cacheEvent.AddressTags;
        var recipients = new HashSet<string>(_table.Of(Everything) ?? [], StringComparer.Ordinal);
        if ((address is null || address.Contains("*")) && _table.Of(Notices) is { } notices)
        {
            recipients.UnionWith(notices);
        }

        return router.SendAsync(cacheEvent, recipients);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> Listeners(BroadcastInterest interest)
    {
        _table.Prune(Router().IsDead);
        return Task.FromResult<IReadOnlyList<string>>([.. (_table.Of(Key(interest)) ?? []).Order(StringComparer.Ordinal)]);
    }

    private static string Key(BroadcastInterest interest) => interest == BroadcastInterest.Everything ? Everything : Notices;

    private InboxRouter Router() =>
        _router ??= new InboxRouter(this.GetStreamProvider(CacheTopics.StreamProvider), membership, this.GetPrimaryKeyString(), logger);

    private void KeepAliveWhileListened() => DelayDeactivation(_table.IsEmpty ? TimeSpan.Zero : Timeout.InfiniteTimeSpan);
}
