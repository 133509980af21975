using System.Collections.Concurrent;
using CountCachula.AspNetCore.Sockets;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// Writes for a share of the process's connections. An event reaches a shard as one <see cref="EventDelivery"/> (the
/// frame and the shard's connections that want it); the shard's single thread-pool work item offers it to each of them
/// and, when nothing else is waiting, writes it at once. The dispatching thread never touches a connection, so under a
/// fan-out to thousands of connections each connection's state is only ever in the cache of the core that writes it.
/// One shard per core lets the cores write in parallel while each connection is only ever written by its own shard.
/// The sends of a run leave in batches, one system call for many streams (<see cref="SocketSendBatch"/>).
/// </summary>
/// <remarks>
/// When events arrive faster than a shard writes, the shard only queues each later event on its connections (which
/// then wait in the shard's queue, once each), so a connection's backlog leaves in one write, and a slow client's is
/// coalesced at its capacity. The shard's own queue of events is bounded by <see cref="MaxQueuedEvents"/>: past it,
/// the dispatching thread waits for room, which holds back the stream that feeds it rather than growing memory.
/// Heartbeats arrive the same way as events; a connection rescheduled after a write arrives on its own.
/// </remarks>
internal sealed class WriterShard : IThreadPoolWorkItem
{
    /// <summary>How many events may wait in one shard's queue before the dispatching thread waits for room.</summary>
    internal const int MaxQueuedEvents = 1024;

    /// <summary>
    /// What to do, in order: an <see cref="EventDelivery"/> to offer, or an <see cref="SseConnection"/> to write (one
    /// that had something queued while it was idle, or frames arriving during its write). One queue, so that under load
    /// the rescheduled connections and the new events take turns.
    /// </summary>
    private readonly ConcurrentQueue<object> _ready = new();
    private readonly WriteLatencyBatch _latencies = new();
    private readonly SocketSendBatch _sends = new();
    private readonly int _index;
    private int _running;
    private int _queuedEvents;
    private int _waitingProducers;

    /// <summary>A shard at position <paramref name="index"/> of its <see cref="WriterShards"/>.</summary>
    internal WriterShard(int index) => _index = index;

    /// <summary>This shard's position, from 0 to <see cref="WriterShards.Count"/> - 1.</summary>
    public int Index => _index;

    /// <summary>How many producers are waiting for room in this shard's queue right now.</summary>
    internal int WaitingProducers => Volatile.Read(ref _waitingProducers);

    /// <summary>Queues <paramref name="connection"/> to be written, starting the shard's work item if it is not running.</summary>
    public void Schedule(SseConnection connection)
    {
        _ready.Enqueue(connection);
        Start();
    }

    /// <summary>
    /// Queues an event for this shard's connections. Waits while <see cref="MaxQueuedEvents"/> are already queued, so a
    /// shard that cannot keep up holds back its producer instead of holding an ever longer queue.
    /// </summary>
    public void Deliver(EventDelivery delivery)
    {
        if (Interlocked.Increment(ref _queuedEvents) > MaxQueuedEvents)
        {
            WaitForRoom();
        }

        _ready.Enqueue(delivery);
        Start();
    }

    private void WaitForRoom()
    {
        // Only under sustained overload. The shard is running (its queue is full), so room comes as it works through it.
        Interlocked.Increment(ref _waitingProducers);
        var spin = new SpinWait();
        while (Volatile.Read(ref _queuedEvents) > MaxQueuedEvents)
        {
            spin.SpinOnce(sleep1Threshold: 20);
        }

        Interlocked.Decrement(ref _waitingProducers);
    }

    private void Start()
    {
        // A full fence on both sides: this compare-exchange after the enqueue, the reset in Execute before its emptiness
        // check. Either this sees the shard stopped and starts it, or the shard sees what was queued. (A plain read here
        // could be ordered before the enqueue became visible, and leave it queued with the shard stopped.)
        if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <inheritdoc />
    public void Execute()
    {
        _latencies.Open();
        _sends.Open();
        while (true)
        {
            while (_ready.TryDequeue(out var item))
            {
                if (item is SseConnection connection)
                {
                    connection.WriteQueued();
                    continue;
                }

                var delivery = (EventDelivery)item;
                Interlocked.Decrement(ref _queuedEvents);

                // Nothing else waiting: write the event to each connection now. Otherwise only queue it on them, so
                // that what the next events add leaves with it in one write.
                delivery.Run(writeNow: _ready.IsEmpty);

                // The event's sends leave together, before the next event's frames would only queue behind them.
                _sends.Flush();
            }

            // Before the reset: once it is done another thread may run this shard, with the same batches. The sends
            // first: ending their writes records latencies.
            _sends.Close();
            _latencies.Close();
            Interlocked.Exchange(ref _running, 0);

            // A connection queued between the last TryDequeue and the reset above must not wait for the next one.
            if (_ready.IsEmpty || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            {
                return;
            }

            _latencies.Open();
            _sends.Open();
        }
    }
}
