using System.Collections.Concurrent;
using CountCachula.Grains;
using Orleans.Streams;

namespace CountCachula.WebFrontend.Streaming;

/// <summary>
/// The silo's one subscriber: it holds a single stream subscription per topic this silo needs, however many local
/// connections want it, and hands every event to the <see cref="CacheEventDispatcher"/>.
/// </summary>
public sealed partial class SiloEventSubscriber(
    IClusterClient client,
    CacheEventDispatcher dispatcher,
    CountCachulaMetrics metrics,
    ILogger<SiloEventSubscriber> logger) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<StreamSubscriptionHandle<CacheEvent>>>> _broadcast = new(StringComparer.Ordinal);

    /// <summary>How many stream subscriptions this silo holds.</summary>
    public int SubscriptionCount => _broadcast.Count(pair => pair.Value.IsValueCreated && pair.Value.Value.IsCompletedSuccessfully);

    /// <summary>
    /// Completes once this silo is subscribed to <paramref name="tenant"/>'s broadcast stream, so any event published
    /// afterwards reaches the caller's connection. Concurrent callers share one subscription.
    /// </summary>
    public async Task EnsureSubscribedAsync(string tenant, CancellationToken cancellationToken)
    {
        var subscription = _broadcast.GetOrAdd(tenant, t => new Lazy<Task<StreamSubscriptionHandle<CacheEvent>>>(() => SubscribeAsync(t)));
        try
        {
            await subscription.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // Forget the failed attempt so the next connection tries again.
            _broadcast.TryRemove(new(tenant, subscription));
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var subscription in _broadcast.Values)
        {
            if (subscription.IsValueCreated && subscription.Value.IsCompletedSuccessfully)
            {
                try
                {
                    await subscription.Value.Result.UnsubscribeAsync().ConfigureAwait(false);
                }
                catch (Exception exception)
                {
                    // The silo may already be stopping; the subscription dies with it.
                    LogUnsubscribeFailed(logger, exception);
                }
            }
        }

        _broadcast.Clear();
    }

    private async Task<StreamSubscriptionHandle<CacheEvent>> SubscribeAsync(string tenant)
    {
        var stream = client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(CacheStreams.Broadcast(tenant));
        var handle = await stream.SubscribeAsync(OnNextAsync).ConfigureAwait(false);
        metrics.SubscriptionOpened();
        LogSubscribed(logger, tenant);
        return handle;
    }

    private Task OnNextAsync(CacheEvent cacheEvent, StreamSequenceToken? token)
    {
        dispatcher.Dispatch(cacheEvent);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Subscribed to the broadcast stream of tenant {Tenant}")]
    private static partial void LogSubscribed(ILogger logger, string tenant);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unsubscribing from a cache event stream failed during shutdown")]
    private static partial void LogUnsubscribeFailed(ILogger logger, Exception exception);
}
