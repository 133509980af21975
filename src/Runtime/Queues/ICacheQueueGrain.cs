using Orleans.Concurrency;

namespace CountCachula.Runtime.Queues;

/// <summary>
/// One queue of the hub's stream provider: producers (the topic and broadcast grains) append to it, and the pulling
/// agent that owns the queue reads it with a long poll, so an event is read the moment it is appended instead of at
/// the agent's next timer tick. Key: <c>{provider}/{queue number}</c>.
/// </summary>
internal interface ICacheQueueGrain : IGrainWithStringKey
{
    /// <summary>Appends one batch; fails when the queue holds <see cref="CacheQueueLimits.MaxMessages"/> unread batches.</summary>
    Task Enqueue(CacheQueueMessage message);

    /// <summary>
    /// Forgets every batch up to <paramref name="acknowledged"/> (the reader has them), then returns up to
    /// <paramref name="maxCount"/> of the following ones, waiting up to <paramref name="wait"/> for one to arrive.
    /// An empty answer means nothing arrived in time. Batches stay until acknowledged by a later read, so a read
    /// whose answer is lost (its caller was cancelled, its silo stopped reading) is answered again.
    /// </summary>
    /// <param name="incarnation">The activation the acknowledgement refers to (from the previous answer); 0 at first.</param>
    /// <param name="acknowledged">The sequence of the last batch the reader has.</param>
    /// <param name="maxCount">The most batches to return.</param>
    /// <param name="wait">How long to wait for a batch when there is none.</param>
    /// <param name="cancellationToken">Ends the wait (the reader is stopping).</param>
    [AlwaysInterleave]
    Task<CacheQueueRead> Read(long incarnation, long acknowledged, int maxCount, TimeSpan wait, CancellationToken cancellationToken);
}

/// <summary>The answer to <see cref="ICacheQueueGrain.Read"/>.</summary>
/// <param name="Incarnation">
/// The queue activation that answered. Sequences are only comparable within one activation: a reader acknowledges
/// with the incarnation it read from, and a new activation ignores acknowledgements meant for an old one.
/// </param>
/// <param name="Messages">The batches, oldest first.</param>
[GenerateSerializer, Immutable, Alias("countcachula.queue-read")]
internal sealed record CacheQueueRead([property: Id(0)] long Incarnation, [property: Id(1)] CacheQueueMessage[] Messages);

/// <summary>Bounds of a <see cref="ICacheQueueGrain"/>.</summary>
internal static class CacheQueueLimits
{
    /// <summary>The most batches a queue holds before appends fail (a queue nobody reads must not grow without end).</summary>
    public const int MaxMessages = 16_384;
}
