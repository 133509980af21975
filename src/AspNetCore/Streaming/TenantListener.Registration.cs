using Orleans.Streams;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>The registration half of <see cref="TenantListener"/>: the inbox subscription and the topic grains.</summary>
internal sealed partial class TenantListener
{
    private IAsyncStream<CacheEvent> Inbox() =>
        services.Client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(CacheStreams.Inbox(tenant, services.Identity.Id));

    /// <summary>Reconciles, logging instead of throwing when it fails (the next check retries).</summary>
    internal async Task SyncQuietlyAsync()
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
                ResendAll();
                Recovery.Failed();
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
            wanted = !_closed || _wanted.AnyConnection;
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
        var finished = new List<Action>();
        var id = services.Identity.Id;
        lock (_lock)
        {
            var resend = _resend;
            _resend = false;
            foreach (var shard in _wanted.Tags.Where(t => resend || !_registeredTags.Contains(t)).GroupBy(CacheTopics.ShardOf))
            {
                string[] tags = [.. shard];
                calls.Add((Topic(shard.Key).Listen(id, tags), () => _registeredTags.UnionWith(tags)));
            }

            foreach (var shard in _registeredTags.Where(t => !_wanted.Wants(t)).GroupBy(CacheTopics.ShardOf))
            {
                string[] tags = [.. shard];
                _unlisteningTags.UnionWith(tags);
                calls.Add((Topic(shard.Key).Unlisten(id, tags), () => _registeredTags.ExceptWith(tags)));
                finished.Add(() => _unlisteningTags.ExceptWith(tags));
            }

            // The broadcast grain says after which event a registration took effect: the inbox checks the first event it
            // receives against it, and once this server receives every event, its recent events can serve replays.
            var broadcast = services.Client.GetGrain<IBroadcastGrain>(tenant);
            BroadcastCall(calls, finished, broadcast, BroadcastInterest.Everything, want: _wanted.Everything, _registeredEverything, resend, registered => _registeredEverything = registered, unlistening => _unlisteningEverything = unlistening);
            BroadcastCall(calls, finished, broadcast, BroadcastInterest.Notices, want: _wanted.AnyConnection, _registeredNotices, resend, registered => _registeredNotices = registered, unlistening => _unlisteningNotices = unlistening);
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

                foreach (var action in finished)
                {
                    action();
                }
            }

            services.Changed();
        }

        lock (_lock)
        {
            inbox = _closed && !_wanted.AnyConnection ? _inbox : null;
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

    /// <summary>
    /// Adds the call that brings <paramref name="interest"/> with the broadcast grain in line with <paramref name="want"/>
    /// (again when <paramref name="resend"/>), what to record once it succeeded, and, for an unlisten, that it is in
    /// flight until it ended (<paramref name="finished"/>). Under the lock.
    /// </summary>
    private void BroadcastCall(
        List<(Task Call, Action Done)> calls,
        List<Action> finished,
        IBroadcastGrain broadcast,
        BroadcastInterest interest,
        bool want,
        bool registered,
        bool resend,
        Action<bool> record,
        Action<bool> unlistening)
    {
        var everything = interest == BroadcastInterest.Everything;
        if (want && (!registered || resend))
        {
            var listen = broadcast.Listen(services.Identity.Id, interest);
            calls.Add((listen, () =>
            {
                record(true);
                Events.Registered(listen.Result, everything);
            }));
        }
        else if (!want && registered)
        {
            if (everything)
            {
                // Before the call: from now on this server may stop receiving events it does not want.
                Events.NotEverything();
            }

            unlistening(true);
            calls.Add((broadcast.Unlisten(services.Identity.Id, interest), () => record(false)));
            finished.Add(() => unlistening(false));
        }
    }

    /// <summary>False when the cluster's pub-sub no longer knows this listener's inbox subscription (it was lost).</summary>
    internal async Task<bool> InboxIsKnownAsync()
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

    [LoggerMessage(EventId = 4180, Level = LogLevel.Warning, Message = "Tenant {Tenant}: bringing registrations in line failed; the next check retries")]
    private static partial void LogSyncFailed(ILogger logger, string tenant, Exception exception);

    [LoggerMessage(EventId = 4184, Level = LogLevel.Warning, Message = "Tenant {Tenant}: confirming that its hub exists failed")]
    private static partial void LogHubUnconfirmed(ILogger logger, string tenant, Exception exception);
}
