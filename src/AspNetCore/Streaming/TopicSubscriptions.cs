using System.Collections.Concurrent;
using CountCachula.Grains;
using CountCachula.WebFrontend.Hosting;
using CountCachula.WebFrontend.Interests;
using Microsoft.Extensions.Options;
using Orleans.Streams;

namespace CountCachula.WebFrontend.Streaming;

/// <summary>
/// The silo's stream subscriptions, reference-counted by the local interests that need them: one subscription per
/// stream however many connections want it. Every connection of a tenant needs the tenant's notice stream; a
/// <c>*</c> or pattern interest needs its broadcast stream; an exact tag needs that tag's stream. The silo tells the
/// topic it listens right after subscribing, and stops listening before it unsubscribes, a grace period later, so
/// events already on their way still arrive.
/// </summary>
internal sealed partial class TopicSubscriptions(
    IClusterClient client,
    ListenerIdentity listener,
    CacheEventDispatcher dispatcher,
    CountCachulaMetrics metrics,
    IOptions<CountCachulaOptions> options,
    ILogger<TopicSubscriptions> logger)
{
    private readonly ConcurrentDictionary<StreamId, Subscription> _subscriptions = new();
    private readonly ConcurrentDictionary<string, SiloSequence> _sequences = new(StringComparer.Ordinal);
    private readonly string _siloId = listener.Id;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>This silo's id as the hub knows it.</summary>
    public string SiloId => _siloId;

    /// <summary>How many streams this silo is subscribed to.</summary>
    public int Count => _subscriptions.Values.Count(s => s.Handle is not null);

    /// <summary>Whether this silo is subscribed to <paramref name="tag"/>'s stream in <paramref name="tenant"/>.</summary>
    public bool IsSubscribedToTag(string tenant, string tag) => IsSubscribed(CacheStreams.Tag(tenant, tag));

    /// <summary>Whether this silo is subscribed to <paramref name="tenant"/>'s broadcast stream.</summary>
    public bool IsSubscribedToBroadcast(string tenant) => IsSubscribed(CacheStreams.Broadcast(tenant));

    /// <summary>Completes at the next subscribe or unsubscribe: lets tests and diagnostics wait instead of polling.</summary>
    public Task WhenChanged() => Volatile.Read(ref _changed).Task;

    /// <summary>Takes what a new connection with <paramref name="interests"/> needs before it receives anything.</summary>
    public async Task AcquireConnectionAsync(string tenant, IEnumerable<Interest> interests, CancellationToken cancellationToken)
    {
        await AcquireAsync(Route.Notices(tenant), cancellationToken);
        try
        {
            await AcquireAsync(tenant, interests, cancellationToken);
        }
        catch
        {
            await ReleaseAsync(Route.Notices(tenant));
            throw;
        }
    }

    /// <summary>Gives back what <see cref="AcquireConnectionAsync"/> took for a connection with <paramref name="interests"/>.</summary>
    public async Task ReleaseConnectionAsync(string tenant, IEnumerable<Interest> interests)
    {
        await ReleaseAsync(tenant, interests);
        await ReleaseAsync(Route.Notices(tenant));
    }

    /// <summary>Takes the streams <paramref name="interests"/> need; on failure gives back what it took.</summary>
    public async Task AcquireAsync(string tenant, IEnumerable<Interest> interests, CancellationToken cancellationToken)
    {
        var taken = new List<Interest>();
        try
        {
            foreach (var interest in interests)
            {
                await AcquireAsync(Route.For(tenant, interest), cancellationToken);
                taken.Add(interest);
            }
        }
        catch
        {
            await ReleaseAsync(tenant, taken);
            throw;
        }
    }

    /// <summary>Gives back the streams <paramref name="interests"/> needed.</summary>
    public async Task ReleaseAsync(string tenant, IEnumerable<Interest> interests)
    {
        foreach (var interest in interests)
        {
            await ReleaseAsync(Route.For(tenant, interest));
        }
    }

    private bool IsSubscribed(StreamId stream) => _subscriptions.TryGetValue(stream, out var s) && s.Handle is not null;

    private SiloSequence SequenceFor(string tenant) => _sequences.GetOrAdd(tenant, _ => new SiloSequence(
        _siloId,
        options.Value.SequenceGapTimeout,
        cacheEvent => dispatcher.Dispatch(cacheEvent),
        missing =>
        {
            metrics.GapSkipped();
            LogGap(logger, tenant, missing);
        },
        async (after, before) =>
        {
            // Events the streams lost (a silo died holding them) are still in the hub's history.
            var replay = await client.GetGrain<ICacheHubGrain>(tenant).Replay(after, null);
            metrics.Recovered();
            return replay.Complete ? [.. replay.Events.Where(e => e.Sequence < before)] : [];
        }));

    private async Task AcquireAsync(Route route, CancellationToken cancellationToken)
    {
        var subscription = _subscriptions.GetOrAdd(route.Stream, static _ => new Subscription());
        await subscription.Gate.WaitAsync(cancellationToken);
        try
        {
            if (subscription.Users == 0)
            {
                subscription.Generation++;
                if (subscription.Handle is null)
                {
                    var stream = client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(route.Stream);
                    subscription.Handle = await stream.SubscribeAsync(OnNextAsync);
                    metrics.SubscriptionOpened();
                    LogSubscribed(logger, route.Stream.ToString());
                    SignalChange();
                }

                // Subscribed first, listener second: once the hub routes here, nothing it sends can miss us.
                var lastSent = await route.AddListener(client, _siloId);
                SequenceFor(route.Tenant).Start(lastSent);
            }

            subscription.Users++;
        }
        finally
        {
            subscription.Gate.Release();
        }
    }

    private async Task ReleaseAsync(Route route)
    {
        if (!_subscriptions.TryGetValue(route.Stream, out var subscription))
        {
            return;
        }

        int generation;
        await subscription.Gate.WaitAsync();
        try
        {
            if (subscription.Users == 0 || --subscription.Users > 0)
            {
                return;
            }

            generation = subscription.Generation;
            try
            {
                await route.RemoveListener(client, _siloId);
            }
            catch (Exception exception)
            {
                // The hub then keeps routing here for a while: unwanted traffic, dropped on arrival. Never fail a disconnect.
                LogUnsubscribeFailed(logger, route.Stream.ToString(), exception);
            }
        }
        finally
        {
            subscription.Gate.Release();
        }

        _ = UnsubscribeAfterGraceAsync(route, subscription, generation);
    }

    private async Task UnsubscribeAfterGraceAsync(Route route, Subscription subscription, int generation)
    {
        await Task.Delay(options.Value.UnsubscribeGrace);
        await subscription.Gate.WaitAsync();
        try
        {
            // Someone took the stream again meanwhile: keep the subscription.
            if (subscription.Users > 0 || subscription.Generation != generation || subscription.Handle is null)
            {
                return;
            }

            try
            {
                await subscription.Handle.UnsubscribeAsync();
            }
            catch (Exception exception)
            {
                LogUnsubscribeFailed(logger, route.Stream.ToString(), exception);
            }

            subscription.Handle = null;
            metrics.SubscriptionClosed();
            LogUnsubscribed(logger, route.Stream.ToString());
            SignalChange();
        }
        finally
        {
            subscription.Gate.Release();
        }
    }

    private Task OnNextAsync(CacheEvent cacheEvent, StreamSequenceToken? token)
    {
        metrics.StreamMessageReceived();
        SequenceFor(cacheEvent.Tenant).Offer(cacheEvent);
        return Task.CompletedTask;
    }

    private void SignalChange() =>
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>A stream of a tenant, and how to tell the hub that this silo reads it.</summary>
    private sealed record Route(string Tenant, StreamId Stream, ListenerRoute Listener)
    {
        public static Route Notices(string tenant) => new(tenant, CacheStreams.Notices(tenant), ListenerRoute.Notices);

        public static Route For(string tenant, Interest interest) => interest.Kind == InterestKind.Exact
            ? new(tenant, CacheStreams.Tag(tenant, interest.Value), ListenerRoute.ForTag(interest.Value))
            : new(tenant, CacheStreams.Broadcast(tenant), ListenerRoute.Broadcast);

        public Task<long> AddListener(IClusterClient client, string siloId) => Listener.Kind == ListenerRouteKind.Tag
            ? client.GetGrain<ITagTopicGrain>(CacheTopics.TagKey(Tenant, Listener.Tag!)).AddListener(siloId)
            : client.GetGrain<IBroadcastGrain>(Tenant).AddListener(Listener, siloId);

        public Task RemoveListener(IClusterClient client, string siloId) => Listener.Kind == ListenerRouteKind.Tag
            ? client.GetGrain<ITagTopicGrain>(CacheTopics.TagKey(Tenant, Listener.Tag!)).RemoveListener(siloId)
            : client.GetGrain<IBroadcastGrain>(Tenant).RemoveListener(Listener, siloId);
    }

    private sealed class Subscription
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public int Users { get; set; }

        public int Generation { get; set; }

        public StreamSubscriptionHandle<CacheEvent>? Handle { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Subscribed to stream {Stream}")]
    private static partial void LogSubscribed(ILogger logger, string stream);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unsubscribed from stream {Stream}")]
    private static partial void LogUnsubscribed(ILogger logger, string stream);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leaving stream {Stream} failed")]
    private static partial void LogUnsubscribeFailed(ILogger logger, string stream, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tenant {Tenant}: event {Missing} reached this silo neither by stream nor from the history; later events went on without it")]
    private static partial void LogGap(ILogger logger, string tenant, long missing);
}
