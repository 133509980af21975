using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace CountCachula.Grains;

/// <summary>
/// The broadcast topic of one tenant: owns the listeners that want every event and those that want the events for
/// everyone, and routes to their inboxes. The registrations are stored (they change only when a web server gains its
/// first or loses its last stream of the tenant), so an activation that replaces one lost with its silo still knows
/// every listener; it keeps them in memory for routing. Reentrant and kept alive for the reasons of
/// <see cref="TagTopicGrain"/>.
/// </summary>
[Reentrant]
internal sealed partial class BroadcastGrain(
    [PersistentState("broadcast", CacheTopics.Storage)] IPersistentState<BroadcastRegistrations> stored,
    IClusterMembershipService membership,
    IOptions<CountCachulaSiloOptions> options,
    ILogger<BroadcastGrain> logger) : Grain, IBroadcastGrain
{
    private const string Everything = "everything";
    private const string Notices = "notices";
    private readonly ListenerTable _table = new(options.Value.ClientListenerLease);
    private readonly SemaphoreSlim _writing = new(1, 1);
    private InboxRouter? _router;
    private long _lastRouted;

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _table.Add(stored.State.Everything, Everything);
        _table.Add(stored.State.Notices, Notices);
        KeepAliveWhileListened();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task<long> Listen(string listenerId, BroadcastInterest interest)
    {
        // In effect from here: every event routed after this line reaches the listener, whatever the write does.
        var baseline = _lastRouted;
        var added = _table.Add(listenerId, [Key(interest)]);
        KeepAliveWhileListened();
        if (added)
        {
            await StoreAsync();
        }

        return baseline;
    }

    /// <inheritdoc />
    public async Task Unlisten(string listenerId, BroadcastInterest interest)
    {
        var removed = _table.Remove(listenerId, [Key(interest)]);
        KeepAliveWhileListened();
        if (removed)
        {
            await StoreAsync();
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> Route(CacheEvent cacheEvent)
    {
        var router = Router();
        if (router.PruneDead(_table))
        {
            KeepAliveWhileListened();
            _ = StoreQuietlyAsync();
        }

        // Recipients are taken, and the event counted as routed, before the first await: a registration that lands
        // after this line (and reports _lastRouted as its baseline) is in time for every later event.
        _lastRouted = Math.Max(_lastRouted, cacheEvent.Sequence);
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

    /// <summary>Writes the registrations as they are now; writes never overlap (the grain is reentrant).</summary>
    private async Task StoreAsync()
    {
        await _writing.WaitAsync();
        try
        {
            stored.State.Everything = [.. _table.Of(Everything) ?? []];
            stored.State.Notices = [.. _table.Of(Notices) ?? []];
            await stored.WriteStateAsync();
        }
        finally
        {
            _writing.Release();
        }
    }

    private async Task StoreQuietlyAsync()
    {
        try
        {
            await StoreAsync();
        }
        catch (Exception exception)
        {
            // Pruned listeners are pruned again by the next activation that reads them (membership still says so).
            LogStoreFailed(logger, this.GetPrimaryKeyString(), exception);
        }
    }

    private static string Key(BroadcastInterest interest) => interest == BroadcastInterest.Everything ? Everything : Notices;

    private InboxRouter Router() =>
        _router ??= new InboxRouter(this.GetStreamProvider(CacheTopics.StreamProvider), membership, this.GetPrimaryKeyString(), logger);

    private void KeepAliveWhileListened() => DelayDeactivation(_table.IsEmpty ? TimeSpan.Zero : Timeout.InfiniteTimeSpan);

    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message = "Tenant {Tenant}: storing the broadcast registrations after pruning failed")]
    private static partial void LogStoreFailed(ILogger logger, string tenant, Exception exception);
}
