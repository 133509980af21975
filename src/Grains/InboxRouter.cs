using Microsoft.Extensions.Logging;

namespace CountCachula.Grains;

/// <summary>
/// What the topic grains share: puts an event on listeners' inbox streams, and tells a dead silo's listener from a
/// live one by the cluster's membership (not by trusting every silo to unlisten before it dies).
/// </summary>
internal sealed partial class InboxRouter(IStreamProvider streams, IClusterMembershipService membership, string tenant, ILogger logger)
{
    private readonly Dictionary<string, IAsyncStream<CacheEvent>> _inboxes = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="listenerId"/> is a silo that membership has declared dead.</summary>
    public bool IsDead(string listenerId) =>
        CacheListeners.SiloOf(listenerId) is { } silo && membership.CurrentSnapshot.GetSiloStatus(silo) == SiloStatus.Dead;

    /// <summary>
    /// Puts <paramref name="cacheEvent"/> on the inbox of each of <paramref name="listenerIds"/>, all at once, each copy
    /// naming the event the hub routed to that listener before (<see cref="CacheEvent.PreviousRouted"/>).
    /// </summary>
    /// <returns>The listeners it was put on, once all of them have it; throws when any could not take it.</returns>
    public async Task<IReadOnlyList<string>> SendAsync(CacheEvent cacheEvent, IReadOnlyCollection<string> listenerIds)
    {
        if (listenerIds.Count == 0)
        {
            return [];
        }

        var links = cacheEvent.Links;
        cacheEvent = cacheEvent.Hops is { } hops
            ? cacheEvent with { Links = null, Hops = hops with { HandedTicks = DateTime.UtcNow.Ticks } }
            : cacheEvent with { Links = null };
        var sends = new List<Task>(listenerIds.Count);
        foreach (var listenerId in listenerIds)
        {
            if (!_inboxes.TryGetValue(listenerId, out var inbox))
            {
                _inboxes[listenerId] = inbox = streams.GetStream<CacheEvent>(CacheStreams.Inbox(tenant, listenerId));
            }

            var copy = links is null ? cacheEvent : cacheEvent with { PreviousRouted = links.PreviousFor(listenerId) };
            sends.Add(SendOneAsync(inbox, copy, listenerId));
        }

        await Task.WhenAll(sends);
        return [.. listenerIds];
    }

    /// <summary>
    /// Drops from <paramref name="table"/> the listeners that membership declared dead (or whose lease ran out), and
    /// their cached stream handles; true when any went.
    /// </summary>
    public bool PruneDead(ListenerTable table)
    {
        if (table.Prune(IsDead) == 0)
        {
            return false;
        }

        Forget(id => !IsDead(id));
        return true;
    }

    /// <summary>Drops the cached stream handles of listeners no longer listed.</summary>
    private void Forget(Func<string, bool> stillListening)
    {
        foreach (var listenerId in _inboxes.Keys.Where(id => !stillListening(id)).ToList())
        {
            _inboxes.Remove(listenerId);
        }
    }

    private async Task SendOneAsync(IAsyncStream<CacheEvent> inbox, CacheEvent cacheEvent, string listenerId)
    {
        try
        {
            await inbox.OnNextAsync(cacheEvent);
        }
        catch (Exception exception)
        {
            // One listener's inbox failing must not keep the event from the others; the listener recovers it from
            // the history when it notices (membership change, inbox check).
            LogSendFailed(logger, tenant, cacheEvent.Sequence, listenerId, exception);
            throw;
        }
    }

    [LoggerMessage(EventId = 3080, Level = LogLevel.Warning, Message = "Tenant {Tenant}: event {Sequence} could not be put on the inbox of {Listener}")]
    private static partial void LogSendFailed(ILogger logger, string tenant, long sequence, string listener, Exception exception);
}
