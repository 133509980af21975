using System.Threading.Channels;
using CountCachula.Grains;
using Orleans.Streams;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// A test-side listener: its own inbox stream, registered with the topic grains as a frontend registers, buffering
/// what arrives.
/// </summary>
public sealed class StreamProbe : IAsyncDisposable
{
    private readonly Channel<CacheEvent> _received = Channel.CreateUnbounded<CacheEvent>();
    private StreamSubscriptionHandle<CacheEvent>? _handle;

    private StreamProbe(string listenerId) => ListenerId = listenerId;

    /// <summary>The probe's listener id.</summary>
    public string ListenerId { get; }

    /// <summary>A probe that listens to every event of <paramref name="tenant"/> (as a frontend with a <c>*</c> connection).</summary>
    public static async Task<StreamProbe> EverythingAsync(IClusterClient client, string tenant)
    {
        var probe = await SubscribeAsync(client, tenant);
        await client.GetGrain<IBroadcastGrain>(tenant).Listen(probe.ListenerId, BroadcastInterest.Everything);
        return probe;
    }

    /// <summary>A probe that listens to the events of <paramref name="tenant"/> addressed to everyone.</summary>
    public static async Task<StreamProbe> NoticesAsync(IClusterClient client, string tenant)
    {
        var probe = await SubscribeAsync(client, tenant);
        await client.GetGrain<IBroadcastGrain>(tenant).Listen(probe.ListenerId, BroadcastInterest.Notices);
        return probe;
    }

    /// <summary>A probe that listens to <paramref name="tags"/> of <paramref name="tenant"/>, registered with their shards.</summary>
    public static async Task<StreamProbe> TagsAsync(IClusterClient client, string tenant, params string[] tags)
    {
        var probe = await SubscribeAsync(client, tenant);
        foreach (var shard in tags.GroupBy(CacheTopics.ShardOf))
        {
            await client.GetGrain<ITagTopicGrain>(CacheTopics.ShardKey(tenant, shard.Key)).Listen(probe.ListenerId, [.. shard]);
        }

        return probe;
    }

    /// <summary>A probe subscribed to its inbox but registered nowhere: it sees only what is routed to its id.</summary>
    public static async Task<StreamProbe> SubscribeAsync(IClusterClient client, string tenant)
    {
        var probe = new StreamProbe(CacheListeners.ForProcess());
        var stream = client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(CacheStreams.Inbox(tenant, probe.ListenerId));
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

    /// <summary>True when an event is buffered now (no waiting).</summary>
    public bool TryTake(out CacheEvent? cacheEvent) => _received.Reader.TryRead(out cacheEvent);

    public async ValueTask DisposeAsync()
    {
        if (_handle is not null)
        {
            await _handle.UnsubscribeAsync();
        }
    }
}
