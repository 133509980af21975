using System.Collections.Concurrent;
using CountCachula.Grains;
using Orleans.Streams;

namespace CountCachula.WebFrontend.Streaming;

/// <summary>
/// The silo's stream subscriptions, reference-counted by the local connections that need them: one subscription per
/// stream however many connections want it, dropped when the last one leaves. Today every connection of a tenant
/// reads the tenant's broadcast stream, the one stream that carries all its events in sequence order; interests are
/// applied inside the silo by the <see cref="CacheEventDispatcher"/>.
/// </summary>
public sealed partial class TopicSubscriptions(
    IClusterClient client,
    CacheEventDispatcher dispatcher,
    CountCachulaMetrics metrics,
    ILogger<TopicSubscriptions> logger)
{
    private readonly ConcurrentDictionary<StreamId, Subscription> _subscriptions = new();

    /// <summary>Takes what a new connection of <paramref name="tenant"/> needs before it receives anything.</summary>
    public Task AcquireConnectionAsync(string tenant, CancellationToken cancellationToken) =>
        AcquireAsync(CacheStreams.Broadcast(tenant), cancellationToken);

    /// <summary>Gives back what <see cref="AcquireConnectionAsync"/> took.</summary>
    public Task ReleaseConnectionAsync(string tenant) => ReleaseAsync(CacheStreams.Broadcast(tenant));

    private async Task AcquireAsync(StreamId streamId, CancellationToken cancellationToken)
    {
        var subscription = _subscriptions.GetOrAdd(streamId, static _ => new Subscription());
        await subscription.Gate.WaitAsync(cancellationToken);
        try
        {
            if (subscription.Users == 0)
            {
                var stream = client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(streamId);
                subscription.Handle = await stream.SubscribeAsync(OnNextAsync);
                metrics.SubscriptionOpened();
                LogSubscribed(logger, streamId.ToString());
            }

            subscription.Users++;
        }
        finally
        {
            subscription.Gate.Release();
        }
    }

    private async Task ReleaseAsync(StreamId streamId)
    {
        if (!_subscriptions.TryGetValue(streamId, out var subscription))
        {
            return;
        }

        await subscription.Gate.WaitAsync();
        try
        {
            if (subscription.Users == 0 || --subscription.Users > 0)
            {
                return;
            }

            try
            {
                await subscription.Handle!.UnsubscribeAsync();
            }
            catch (Exception exception)
            {
                // Losing an unsubscribe costs only unwanted traffic, which the dispatcher ignores; never fail a disconnect.
                LogUnsubscribeFailed(logger, streamId.ToString(), exception);
            }

            subscription.Handle = null;
            metrics.SubscriptionClosed();
            LogUnsubscribed(logger, streamId.ToString());
        }
        finally
        {
            subscription.Gate.Release();
        }
    }

    private Task OnNextAsync(CacheEvent cacheEvent, StreamSequenceToken? token)
    {
        dispatcher.Dispatch(cacheEvent);
        return Task.CompletedTask;
    }

    private sealed class Subscription
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public int Users { get; set; }

        public StreamSubscriptionHandle<CacheEvent>? Handle { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Subscribed to stream {Stream}")]
    private static partial void LogSubscribed(ILogger logger, string stream);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unsubscribed from stream {Stream}")]
    private static partial void LogUnsubscribed(ILogger logger, string stream);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unsubscribing from stream {Stream} failed")]
    private static partial void LogUnsubscribeFailed(ILogger logger, string stream, Exception exception);
}
