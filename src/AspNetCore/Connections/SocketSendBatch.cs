using System.Runtime.InteropServices;
using CountCachula.AspNetCore.Streaming;

namespace CountCachula.AspNetCore.Connections;

/// <summary>
/// The sends of one writer shard's run, collected and made in one system call per <see cref="SendRing.Size"/> (see
/// <see cref="SendRing"/>): each stream's single-frame write goes here instead of into its own <c>send</c>, and ends
/// when the batch is flushed — after each event the shard delivers, when it is full, and before the shard stops.
/// </summary>
/// <remarks>
/// A stream in the batch is in the middle of its write, as it would be during a <c>send</c>: frames for it wait in its
/// pending list until the write ends. Where io_uring is not available the batch takes nothing and every write sends on
/// its own. Only ever used by the thread running its shard, which <see cref="WriterShard"/> guarantees is one at a time.
/// </remarks>
internal sealed unsafe class SocketSendBatch
{
    [ThreadStatic]
    private static SocketSendBatch? t_current;

    private readonly Entry[] _entries = new Entry[SendRing.Size];
    private readonly int[] _results = new int[SendRing.Size];
    private readonly GCHandle[] _pins = new GCHandle[SendRing.Size];
    private SendRing? _ring;
    private bool _ringTried;
    private int _count;
    private int _pinCount;
    private byte[]? _pinnedArray;
    private byte* _pinnedAddress;

    /// <summary>What a stream's write does with the batch.</summary>
    public enum Outcome
    {
        /// <summary>The send is in the batch; the stream's write ends when the batch is flushed.</summary>
        Added,

        /// <summary>The batch cannot take it: the stream sends on its own.</summary>
        NotTaken,

        /// <summary>The stream's socket is already closed: its write ends with the stream.</summary>
        Closed,
    }

    /// <summary>The batch of the shard running on this thread, or null off a shard.</summary>
    public static SocketSendBatch? Current => t_current;

    /// <summary>Makes this the batch of the calling thread, until <see cref="Close"/>.</summary>
    public void Open() => t_current = this;

    /// <summary>Flushes the batch and stops collecting on the calling thread.</summary>
    public void Close()
    {
        Flush();
        t_current = null;
    }

    /// <summary>
    /// Adds the send of <paramref name="frame"/>'s chunk to <paramref name="connection"/>'s socket; once flushed, the
    /// batch ends the stream's write (<paramref name="spare"/> is handed back to it then).
    /// </summary>
    public Outcome TryAdd(SseConnection connection, SocketChunkWriter writer, SseFrame frame, List<SseFrame>? spare)
    {
        if (!writer.Batched || (_ring is null && (_ringTried || !TryStartRing())))
        {
            return Outcome.NotTaken;
        }

        if (!MemoryMarshal.TryGetArray(frame.Chunk, out var chunk))
        {
            return Outcome.NotTaken;
        }

        var fd = writer.BeginBatchedSend();
        if (fd == SocketChunkWriter.SocketClosed)
        {
            return Outcome.Closed;
        }

        _ring!.Prepare(fd, Pin(chunk.Array!) + chunk.Offset, chunk.Count, _count);
        _entries[_count++] = new Entry(connection, writer, frame, spare);
        if (_count == SendRing.Size)
        {
            Flush();
        }

        return Outcome.Added;
    }

    /// <summary>Makes the sends collected so far and ends each of their streams' writes.</summary>
    public void Flush()
    {
        var count = _count;
        if (count == 0)
        {
            return;
        }

        _count = 0;
        var began = DateTime.UtcNow;
        try
        {
            _ring!.Submit(_results.AsSpan(0, count));
        }
        finally
        {
            for (var i = 0; i < _pinCount; i++)
            {
                _pins[i].Free();
            }

            _pinCount = 0;
            _pinnedArray = null;
        }

        // Two clock reads for the whole batch: its sends were all made by the one call above.
        var now = DateTime.UtcNow;
        for (var i = 0; i < count; i++)
        {
            var entry = _entries[i];
            _entries[i] = default;
            entry.Writer.EndBatchedSend();
            entry.Connection.SentInBatch(entry.Frame, _results[i], entry.Spare, began, now);
        }
    }

    private bool TryStartRing()
    {
        _ringTried = true;
        _ring = SendRing.TryCreate();
        return _ring is not null;
    }

    /// <summary>The address of <paramref name="array"/>, pinned until the batch is flushed.</summary>
    private byte* Pin(byte[] array)
    {
        // A fan-out of one event sends the same frame to every stream: one pin for the whole batch.
        if (!ReferenceEquals(array, _pinnedArray))
        {
            var pin = GCHandle.Alloc(array, GCHandleType.Pinned);
            _pins[_pinCount++] = pin;
            _pinnedArray = array;
            _pinnedAddress = (byte*)pin.AddrOfPinnedObject();
        }

        return _pinnedAddress;
    }

    private readonly record struct Entry(SseConnection Connection, SocketChunkWriter Writer, SseFrame Frame, List<SseFrame>? Spare);
}
