using Orleans.Providers.Streams.Common;
using Orleans.Streams;

namespace CountCachula.Runtime.Queues;

/// <summary>
/// A batch of events of one stream as it travels through a <see cref="ICacheQueueGrain"/>; it is also the batch the
/// pulling agent caches and hands to the stream's consumers. Immutable: Orleans passes it between grains of one
/// silo without copying.
/// </summary>
[GenerateSerializer, Immutable, Alias("countcachula.queue-message")]
internal sealed class CacheQueueMessage : IBatchContainer
{
    /// <summary>Creates a batch; <paramref name="sequence"/> is set by the queue when it is appended.</summary>
    public CacheQueueMessage(StreamId streamId, object[] events, Dictionary<string, object>? requestContext, long sequence)
    {
        StreamId = streamId;
        Events = events;
        RequestContext = requestContext;
        Sequence = sequence;
    }

    /// <inheritdoc />
    [Id(0)]
    public StreamId StreamId { get; }

    /// <summary>The events, in the order they were produced.</summary>
    [Id(1)]
    public object[] Events { get; }

    /// <summary>The producer's request context, restored around delivery.</summary>
    [Id(2)]
    public Dictionary<string, object>? RequestContext { get; }

    /// <summary>The queue's number for this batch: rising within a queue, and across its reactivations.</summary>
    [Id(3)]
    public long Sequence { get; }

    /// <inheritdoc />
    public StreamSequenceToken SequenceToken => new EventSequenceTokenV2(Sequence);

    /// <summary>The same batch with the queue's number.</summary>
    public CacheQueueMessage WithSequence(long sequence) => new(StreamId, Events, RequestContext, sequence);

    /// <inheritdoc />
    public IEnumerable<Tuple<T, StreamSequenceToken>> GetEvents<T>()
    {
        var token = new EventSequenceTokenV2(Sequence);
        for (var i = 0; i < Events.Length; i++)
        {
            if (Events[i] is T item)
            {
                yield return Tuple.Create(item, (StreamSequenceToken)token.CreateSequenceTokenForEvent(i));
            }
        }
    }

    /// <inheritdoc />
    public bool ImportRequestContext()
    {
        if (RequestContext is null)
        {
            return false;
        }

        RequestContextExtensions.Import(RequestContext);
        return true;
    }
}
