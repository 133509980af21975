using Orleans.Runtime.Providers;

namespace CountCachula.Grains;

/// <summary>
/// How long a stream pulling agent of the cache-event streams waits before it tries again to read its queue or to
/// deliver to a consumer after a failure: <paramref name="first"/>, doubling per attempt up to <paramref name="cap"/>.
/// Orleans waits 10–20 s before re-reading a queue whose read failed, and a read fails whenever the queue's grain was
/// on a silo that just died, so every event published in those seconds would reach its browsers that much later. The
/// failures this retries end once the dead silo is declared dead; the cost of retrying sooner is a logged error per
/// attempt while that lasts.
/// </summary>
internal sealed class StreamFailoverBackoff(TimeSpan first, TimeSpan cap) : IQueueReaderBackoffProvider, IMessageDeliveryBackoffProvider
{
    /// <summary>The back-off <c>AddCountCachula</c> gives the cache-event streams: 100 ms, doubling to 1 s.</summary>
    public static StreamFailoverBackoff Default { get; } = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));

    /// <inheritdoc />
    public TimeSpan Next(int attempt)
    {
        var delay = first * Math.Pow(2, Math.Clamp(attempt, 0, 16));
        return delay < cap ? delay : cap;
    }
}
