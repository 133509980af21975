using System.Threading.Channels;
using CountCachula.Grains;
using Orleans.Streams;

namespace CountCachula.Tests.Infrastructure;

/// <summary>A test-side subscription to one stream that buffers what arrives.</summary>
public sealed class StreamProbe : IAsyncDisposable
{
    private readonly Channel<CacheEvent> _received = Channel.CreateUnbounded<CacheEvent>();
    private StreamSubscriptionHandle<CacheEvent>? _handle;

    /// <summary>
    /// Subscribes to the stream of <paramref name="route"/> and then registers as its listener, as a silo does, so
    /// the hub routes events there from now on.
    /// </summary>
    public static async Task<StreamProbe> SubscribeAsync(IClusterClient client, string tenant, ListenerRoute route)
    {
        var probe = new StreamProbe();
        var id = route.Kind switch
        {
            ListenerRouteKind.Broadcast => CacheStreams.Broadcast(tenant),
            ListenerRouteKind.Notices => CacheStreams.Notices(tenant),
            _ => CacheStreams.Tag(tenant, route.Tag!),
        };
        var stream = client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(id);
        probe._handle = await stream.SubscribeAsync((item, _) =>
        {
            probe._received.Writer.TryWrite(item);
            return Task.CompletedTask;
        });
        var listenerId = "probe-" + Guid.NewGuid().ToString("N");
        if (route.Kind == ListenerRouteKind.Tag)
        {
            await client.GetGrain<ITagTopicGrain>(CacheTopics.TagKey(tenant, route.Tag!)).AddListener(listenerId);
        }
        else
        {
            await client.GetGrain<IBroadcastGrain>(tenant).AddListener(route, listenerId);
        }

        return probe;
    }

    /// <summary>Subscribes to a stream without telling the hub: sees only what others caused to be routed there.</summary>
    public static async Task<StreamProbe> SubscribeUnlistedAsync(IClusterClient client, StreamId id)
    {
        var probe = new StreamProbe();
        var stream = client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(id);
        probe._handle = await stream.SubscribeAsync((item, _) =>
        {
            probe._received.Writer.TryWrite(item);
            return Task.CompletedTask;
        });
        return probe;
    }

    public async Task<CacheEvent> NextAsync(string phase)
    {
        using var cts = new CancellationTokenSource(Timeouts.Default);
        try
        {
            return await _received.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{phase}: no event within {Timeouts.Default}.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_handle is not null)
        {
            await _handle.UnsubscribeAsync();
        }
    }
}
