using CountCachula.Runtime.Queues;
using Orleans.Concurrency;
using Orleans.Placement;

namespace CountCachula.Grains;

/// <summary>
/// One in-memory queue of the hub's stream provider. Appends complete the waiting read at once; the reader
/// acknowledges what it has with its next read, and only then are those batches forgotten.
/// </summary>
/// <remarks>
/// Placed on the silo that first calls it, which is normally the silo whose pulling agent reads it: the agent's
/// waiting read is then a local call. Reentrant so that appends are served while a read waits; every method runs
/// without awaiting between its reads and writes of the queue, so no turn sees another's half-done change.
/// </remarks>
[Reentrant]
[PreferLocalPlacement]
internal sealed class CacheQueueGrain : Grain, ICacheQueueGrain
{
    private readonly Queue<CacheQueueMessage> _messages = new();

    // Numbers start at the clock's ticks: the pulling agent's cache orders batches by them, and they keep rising
    // when the queue is activated again on the same silo.
    private readonly long _incarnation = Random.Shared.NextInt64(1, long.MaxValue);
    private long _next = DateTime.UtcNow.Ticks;
    private TaskCompletionSource? _arrived;

    /// <inheritdoc />
    public Task Enqueue(CacheQueueMessage message)
    {
        if (_messages.Count >= CacheQueueLimits.MaxMessages)
        {
            throw new InvalidOperationException($"Stream queue {this.GetPrimaryKeyString()} holds {CacheQueueLimits.MaxMessages} unread batches: is its pulling agent running?");
        }

        _messages.Enqueue(message.WithSequence(++_next));
        _arrived?.TrySetResult();
        _arrived = null;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task<CacheQueueRead> Read(long incarnation, long acknowledged, int maxCount, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (incarnation == _incarnation)
        {
            while (_messages.TryPeek(out var oldest) && oldest.Sequence <= acknowledged)
            {
                _messages.Dequeue();
            }
        }

        if (_messages.Count == 0 && wait > TimeSpan.Zero)
        {
            _arrived ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            try
            {
                await _arrived.Task.WaitAsync(wait, cancellationToken);
            }
            catch (TimeoutException)
            {
                // Nothing arrived: answer empty; the reader asks again.
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return new CacheQueueRead(_incarnation, []);
            }
        }

        var count = Math.Min(Math.Max(maxCount, 1), _messages.Count);
        var batch = new CacheQueueMessage[count];
        var i = 0;
        foreach (var message in _messages)
        {
            if (i == count)
            {
                break;
            }

            batch[i++] = message;
        }

        return new CacheQueueRead(_incarnation, batch);
    }
}
