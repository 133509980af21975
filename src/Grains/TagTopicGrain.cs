using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace CountCachula.Grains;

/// <summary>
/// One shard of a tenant's tags: owns which listeners want which of its tags (in memory) and routes events for them
/// to those listeners' inboxes. See <see cref="ITagTopicGrain"/>.
/// </summary>
/// <remarks>
/// Reentrant: registering never waits behind routing. Every change to the table happens between awaits, and routing
/// takes its recipients before its first await. It stays active while anyone listens, so its table is lost only
/// when its silo is, and listeners follow membership to register again.
/// </remarks>
[Reentrant]
internal sealed class TagTopicGrain(
    IClusterMembershipService membership,
    IOptions<CountCachulaSiloOptions> options,
    ILogger<TagTopicGrain> logger) : Grain, ITagTopicGrain
{
    private readonly ListenerTable _table = new(options.Value.ClientListenerLease);
    private InboxRouter? _router;

    private string Tenant => this.GetPrimaryKeyString()[..this.GetPrimaryKeyString().IndexOf('/')];

    /// <inheritdoc />
    public Task Listen(string listenerId, IReadOnlyList<string> tags)
    {
        _table.Add(listenerId, tags);
        KeepAliveWhileListened();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task Unlisten(string listenerId, IReadOnlyList<string> tags)
    {
        _table.Remove(listenerId, tags);
        KeepAliveWhileListened();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> Route(CacheEvent cacheEvent)
    {
        var router = Router();
        if (router.PruneDead(_table))
        {
            KeepAliveWhileListened();
        }

        var address = cacheEvent.AddressTags;
        if (address is null || _table.IsEmpty)
        {
            return Task.FromResult<IReadOnlyList<string>>([]);
        }

        HashSet<string>? recipients = null;
        foreach (var tag in address)
        {
            if (_table.Of(tag) is { } listeners)
            {
                (recipients ??= new HashSet<string>(StringComparer.Ordinal)).UnionWith(listeners);
            }
        }

        return recipients is null ? Task.FromResult<IReadOnlyList<string>>([]) : router.SendAsync(cacheEvent, recipients);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ListenersOf(string tag)
    {
        var router = Router();
        _table.Prune(router.IsDead);
        return Task.FromResult<IReadOnlyList<string>>([.. (_table.Of(tag) ?? []).Order(StringComparer.Ordinal)]);
    }

    private InboxRouter Router() =>
        _router ??= new InboxRouter(this.GetStreamProvider(CacheTopics.StreamProvider), membership, Tenant, logger);

    // Soft state is worth keeping while someone listens; an empty table may be collected like any idle grain.
    private void KeepAliveWhileListened() => DelayDeactivation(_table.IsEmpty ? TimeSpan.Zero : Timeout.InfiniteTimeSpan);
}
