using System.Collections.Concurrent;

namespace CountCachula.AspNetCore.Connections;

/// <summary>
/// Writes for a share of the process's connections. A connection with something new to send is queued here once (not
/// once per frame); a single thread-pool work item then writes every queued connection in turn, so an event that
/// reaches 5,000 connections costs a few work items rather than 5,000 task wake-ups. One shard per core lets the cores
/// write in parallel while each connection is only ever written by its own shard.
/// </summary>
/// <remarks>
/// An event's fan-out makes thousands of connections ready from one thread in a burst. Inside
/// <see cref="CollectFanOut"/> that thread hands them over <see cref="ChunkSize"/> at a time instead of one by one: the
/// shard's queue is touched once per chunk by each side rather than once per connection, so the dispatching core and
/// the writing cores do not pass the queue's cache lines back and forth for every delivery. Every shard gets its first
/// chunk after a few connections, so all of them start writing while the dispatcher is still going.
/// </remarks>
internal sealed class WriterShard : IThreadPoolWorkItem
{
    /// <summary>How many ready connections of one shard a fan-out gathers before handing them over.</summary>
    internal const int ChunkSize = 32;

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

    private WriterShard(int index) => _index = index;

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
