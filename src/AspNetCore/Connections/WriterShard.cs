using System.Collections.Concurrent;

namespace CountCachula.WebFrontend.Connections;

/// <summary>
/// Writes for a share of the process's connections. A connection with something new to send is queued here once (not
/// once per frame); a single thread-pool work item then writes every queued connection in turn, so an event that
/// reaches 5,000 connections costs a few work items rather than 5,000 task wake-ups. One shard per core lets the cores
/// write in parallel while each connection is only ever written by its own shard.
/// </summary>
internal sealed class WriterShard : IThreadPoolWorkItem
{
    private static readonly WriterShard[] s_shards = [.. Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(_ => new WriterShard())];

    private readonly ConcurrentQueue<SseConnection> _ready = new();
    private int _running;

    /// <summary>The shard that writes the connection with id <paramref name="connectionId"/>.</summary>
    public static WriterShard For(string connectionId) =>
        s_shards[(int)((uint)StringComparer.Ordinal.GetHashCode(connectionId) % (uint)s_shards.Length)];

    /// <summary>Queues <paramref name="connection"/> to be written, starting the shard's work item if it is not running.</summary>
    public void Schedule(SseConnection connection)
    {
        _ready.Enqueue(connection);
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
            while (_ready.TryDequeue(out var connection))
            {
                connection.WriteQueued();
            }

            Volatile.Write(ref _running, 0);

            // A connection queued between the last TryDequeue and the reset above must not wait for the next one.
            if (_ready.IsEmpty || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            {
                return;
            }
        }
    }
}
