using CountCachula.Grains;
using Orleans.Streams;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>The registration half of <see cref="TenantListener"/>: the inbox subscription and the topic grains.</summary>
internal sealed partial class TenantListener
{
    private IAsyncStream<CacheEvent> Inbox() =>
        services.Client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(CacheStreams.Inbox(tenant, services.Identity.Id));

    private async Task SyncQuietlyAsync()
    {
        try
        {
            await SyncAsync();
        }
        catch (Exception exception)
        {
            // An unlisten that failed leaves unwanted traffic, dropped on arrival; the next check retries it.
            LogSyncFailed(services.Logger, tenant, exception);
        }
    }

    private async Task SyncLoopAsync()
    {
        while (true)
        {
            TaskCompletionSource? pending;
            lock (_lock)
            {
                pending = _pendingSync;
                _pendingSync = null;
                if (pending is null)
                {
                    _syncRunning = false;
                    return;
                }
            }

            try
            {
                await SyncOnceAsync();
                pending.TrySetResult();
            }
            catch (Exception exception)
            {
                lock (_lock)
                {
                    _needsRecovery = true;
                }

                pending.TrySetException(exception);
            }
        }
    }

    /// <summary>Brings the inbox subscription and the topic grains in line with what is wanted now.</summary>
    private async Task SyncOnceAsync()
    {
        bool wanted;
        StreamSubscriptionHandle<CacheEvent>? inbox;
        lock (_lock)
        {
            wanted = !_closed || _connections > 0;
            inbox = _inbox;
        }

        if (wanted && inbox is null)
        {
            // Subscribed first, registered second: once a topic grain routes here, nothing it sends can miss us.
            var handle = await Inbox().SubscribeAsync(services.OnEvent);
            lock (_lock)
            {
                _inbox = handle;
            }

            services.Metrics.SubscriptionOpened();
            services.Changed();
            if (!_touched)
            {
                _touched = true;
                _ = TouchHubAsync();
            }
        }

        var calls = new List<(Task Call, Action Done)>();
        var id = services.Identity.Id;
        lock (_lock)
        {
            foreach (var shard in _tags.Keys.Where(t => !_registeredTags.Contains(t)).GroupBy(CacheTopics.ShardOf))
            {
                string[] tags = [.. shard];
                calls.Add((Topic(shard.Key).Listen(id, tags), () => _registeredTags.UnionWith(tags)));
            }

            foreach (var shard in _registeredTags.Where(t => !_tags.ContainsKey(t)).GroupBy(CacheTopics.ShardOf))
            {
                string[] tags = [.. shard];
                calls.Add((Topic(shard.Key).Unlisten(id, tags), () => _registeredTags.ExceptWith(tags)));
            }

            var broadcast = services.Client.GetGrain<IBroadcastGrain>(tenant);
            if (_patterns > 0 != _registeredEverything)
            {
                var want = _patterns > 0;
                calls.Add((want ? broadcast.Listen(id, BroadcastInterest.Everything) : broadcast.Unlisten(id, BroadcastInterest.Everything), () => _registeredEverything = want));
            }

            if (_connections > 0 != _registeredNotices)
            {
                var want = _connections > 0;
                calls.Add((want ? broadcast.Listen(id, BroadcastInterest.Notices) : broadcast.Unlisten(id, BroadcastInterest.Notices), () => _registeredNotices = want));
            }
        }

        try
        {
            await Task.WhenAll(calls.Select(c => c.Call));
        }
        finally
        {
            lock (_lock)
            {
                foreach (var (call, done) in calls)
                {
                    if (call.IsCompletedSuccessfully)
                    {
                        done();
                    }
                }
            }

            services.Changed();
        }

        lock (_lock)
        {
            inbox = _closed && _connections == 0 ? _inbox : null;
            if (inbox is not null)
            {
                _inbox = null;
            }
        }

        if (inbox is not null)
        {
            await UnsubscribeQuietlyAsync(inbox);
            services.Metrics.SubscriptionClosed();
            services.Changed();
        }
    }

    /// <summary>False when the cluster's pub-sub no longer knows this listener's inbox subscription (it was lost).</summary>
    private async Task<bool> InboxIsKnownAsync()
    {
        StreamSubscriptionHandle<CacheEvent>? handle;
        lock (_lock)
        {
            handle = _inbox;
        }

        if (handle is null)
        {
            return true;
        }

        var known = await Inbox().GetAllSubscriptionHandles();
        if (known.Any(h => h.HandleId == handle.HandleId))
        {
            return true;
        }

        lock (_lock)
        {
            if (ReferenceEquals(_inbox, handle))
            {
                _inbox = null;
            }
        }

        await UnsubscribeQuietlyAsync(handle);
        services.Metrics.SubscriptionClosed();
        return false;
    }

    private async Task UnsubscribeQuietlyAsync(StreamSubscriptionHandle<CacheEvent> handle)
    {
        try
        {
            await handle.UnsubscribeAsync();
        }
        catch (Exception exception)
        {
            LogSyncFailed(services.Logger, tenant, exception);
        }
    }

    private ITagTopicGrain Topic(int shard) => services.Client.GetGrain<ITagTopicGrain>(CacheTopics.ShardKey(tenant, shard));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tenant {Tenant}: bringing registrations in line failed; the next check retries")]
    private static partial void LogSyncFailed(ILogger logger, string tenant, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tenant {Tenant}: recovering ({Reason}): registering again and reading the history")]
    private static partial void LogRecovering(ILogger logger, string tenant, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tenant {Tenant}: recovery failed; the next check retries")]
    private static partial void LogRecoveryFailed(ILogger logger, string tenant, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tenant {Tenant}: the history cannot cover the recovery window; every local connection is told to reset")]
    private static partial void LogReset(ILogger logger, string tenant);
}
