using System.Threading.Channels;
using Orleans.Streams;

namespace CountCachula.Tests.Infrastructure;

/// <summary>A test-side subscription to one stream that buffers what arrives.</summary>
public sealed class StreamProbe : IAsyncDisposable
{
    private readonly Channel<CacheEvent> _received = Channel.CreateUnbounded<CacheEvent>();
    private StreamSubscriptionHandle<CacheEvent>? _handle;

    public static async Task<StreamProbe> SubscribeAsync(IClusterClient client, StreamId id, string? tenant = null, string? listenToTag = null)
    {
        var probe = new StreamProbe();
        var stream = client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(id);
        probe._handle = await stream.SubscribeAsync((item, _) =>
        {
            probe._received.Writer.TryWrite(item);
            return Task.CompletedTask;
        });
        if (tenant is not null && listenToTag is not null)
        {
            // As a silo does: subscribe first, then tell the topic, so nothing routed afterwards is missed.
            await client.GetGrain<ITagTopicGrain>(CacheTopics.TagKey(tenant, listenToTag)).AddListener("probe-" + Guid.NewGuid());
        }

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
