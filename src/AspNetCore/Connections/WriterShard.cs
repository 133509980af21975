using System.Collections.Concurrent;

namespace CountCachula.AspNetCore.Connections;

/// <summary>
/// Writes for a share of the process's connections. An event reaches a shard as one <see cref="EventDelivery"/> (the
/// frame and the shard's connections that want it); the shard's single thread-pool work item offers it to each of them
/// and, when nothing else is waiting, writes it at once. The dispatching thread never touches a connection, so under a
/// fan-out to thousands of connections each connection's state is only ever in the cache of the core that writes it.
/// One shard per core lets the cores write in parallel while each connection is only ever written by its own shard.
/// </summary>
/// <remarks>
/// When events arrive faster than a shard writes, the shard only queues each later event on its connections (which
/// then wait in the shard's queue, once each), so a connection's backlog leaves in one write, and a slow client's is
/// coalesced at its capacity. The shard's own queue of events is bounded by <see cref="MaxQueuedEvents"/>: past it,
/// the dispatching thread waits for room, which holds back the stream that feeds it rather than growing memory.
/// Heartbeats and rescheduled connections still arrive one connection at a time (or a heartbeat's chunk of them).
/// </remarks>
internal sealed class WriterShard : IThreadPoolWorkItem
{
    /// <summary>How many ready connections of one shard a fan-out gathers before handing them over.</summary>
    internal const int ChunkSize = 32;

    /// <summary>How many events may wait in one shard's queue before the dispatching thread waits for room.</summary>
    internal const int MaxQueuedEvents = 1024;

    private static readonly WriterShard[] s_shards = [.. Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(i => new WriterShard(i))];

    [ThreadStatic]
    private static FanOut? t_fanOut;

    /// <summary>
    /// Connections to write, one at a time (an <see cref="SseConnection"/>) or a fan-out's chunk of them (an array):
    /// one queue, so that under load those rescheduled after a write and those made ready by new events take turns.
    /// </summary>
    private readonly ConcurrentQueue<object> _ready = new();
    private readonly ConcurrentQueue<SseConnection[]> _freeChunks = new();
    private readonly int _index;
    private int _running;
    private int _queuedEvents;
    private int _waitingProducers;

    private WriterShard(int index) => _index = index;

    /// <summary>How many shards there are (one per core).</summary>
    public static int Count => s_shards.Length;

    /// <summary>This shard's position, from 0 to <see cref="Count"/> - 1.</summary>
    public int Index => _index;

    /// <summary>How many producers are waiting for room in this shard's queue right now.</summary>
    internal int WaitingProducers => Volatile.Read(ref _waitingProducers);

    /// <summary>The shard at <paramref name="index"/>.</summary>
    public static WriterShard At(int index) => s_shards[index];

    /// <summary>The shard that writes the connection with id <paramref name="connectionId"/>.</summary>
    public static WriterShard For(string connectionId) =>
        s_shards[(int)((uint)StringComparer.Ordinal.GetHashCode(connectionId) % (uint)s_shards.Length)];

    /// <summary>
    /// Until the returned scope is disposed, connections this thread makes ready are gathered per shard and handed over
    /// in chunks; disposing hands over the rest. Nested calls share the outer scope.
    /// </summary>
    public static FanOutScope CollectFanOut()
    {
        if (t_fanOut is { Active: true })
        {
            return default;
        }

        var fanOut = t_fanOut ??= new FanOut(s_shards.Length);
        fanOut.Active = true;
        return new FanOutScope(fanOut);
    }

    /// <summary>Queues <paramref name="connection"/> to be written, starting the shard's work item if it is not running.</summary>
    public void Schedule(SseConnection connection)
    {
        if (t_fanOut is { Active: true } fanOut)
        {
            fanOut.Add(this, connection);
            return;
        }

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

    /// <summary>Queues a chunk of connections: filled from the start, the rest of it null.</summary>
    private void ScheduleChunk(SseConnection[] chunk)
    {
        _ready.Enqueue(chunk);
        Start();
    }

    /// <summary>An empty chunk: one the shard finished with, or a new one.</summary>
    private SseConnection[] RentChunk() => _freeChunks.TryDequeue(out var chunk) ? chunk : new SseConnection[ChunkSize];

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
        while (true)
        {
            while (_ready.TryDequeue(out var item))
            {
                if (item is SseConnection connection)
                {
                    connection.WriteQueued();
                    continue;
                }

                if (item is EventDelivery delivery)
                {
                    Interlocked.Decrement(ref _queuedEvents);

                    // Nothing else waiting: write the event to each connection now. Otherwise only queue it on them,
                    // so that what the next events add leaves with it in one write.
                    delivery.Run(writeNow: _ready.IsEmpty);
                    continue;
                }

                var chunk = (SseConnection[])item;
                for (var i = 0; i < chunk.Length && chunk[i] is { } member; i++)
                {
                    member.WriteQueued();
                }

                Array.Clear(chunk);
                _freeChunks.Enqueue(chunk);
            }

            Interlocked.Exchange(ref _running, 0);

            // A connection queued between the last TryDequeue and the reset above must not wait for the next one.
            if (_ready.IsEmpty || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            {
                return;
            }
        }
    }

    /// <summary>The ready connections one thread gathered, per shard, during a fan-out.</summary>
    internal sealed class FanOut(int shards)
    {
        private readonly SseConnection[]?[] _chunks = new SseConnection[shards][];
        private readonly int[] _counts = new int[shards];

        public bool Active { get; set; }

        public void Add(WriterShard shard, SseConnection connection)
        {
            var i = shard._index;
            var chunk = _chunks[i] ??= shard.RentChunk();
            chunk[_counts[i]++] = connection;
            if (_counts[i] == chunk.Length)
            {
                Hand(shard, i);
            }
        }

        public void HandAll()
        {
            for (var i = 0; i < _chunks.Length; i++)
            {
                if (_chunks[i] is not null)
                {
                    Hand(s_shards[i], i);
                }
            }
        }

        private void Hand(WriterShard shard, int i)
        {
            var chunk = _chunks[i]!;
            _chunks[i] = null;
            _counts[i] = 0;
            shard.ScheduleChunk(chunk);
        }
    }

    /// <summary>Ends a <see cref="CollectFanOut"/>: hands over what was gathered.</summary>
    internal readonly struct FanOutScope(FanOut? fanOut) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose()
        {
            if (fanOut is null)
            {
                return;
            }

            fanOut.Active = false;
            fanOut.HandAll();
        }
    }
}
