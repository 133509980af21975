using System.Runtime.InteropServices;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Sockets;

/// <summary>
/// The sends of one writer shard's run, collected and made in one system call per <see cref="SendRing.Size"/> (see
/// <see cref="SendRing"/>): each stream's single-frame write goes here instead of into its own <c>send</c>, and ends
/// when the batch is flushed — after each event the shard delivers, when it is full, and before the shard stops.
/// </summary>
/// <remarks>
/// A stream in the batch is in the middle of its write, as it would be during a <c>send</c>: frames for it wait in its
/// pending list until the write ends. Where io_uring is not available the batch takes nothing and every write sends on
/// its own. Only ever used by the thread running its shard, which <c>WriterShard</c> guarantees is one at a time.
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

    /// <summary>The ring the batch sends through, once it has one (for tests).</summary>
    internal SendRing? Ring => _ring;

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
    public Outcome TryAdd(IBatchedSendOwner connection, SocketChunkWriter writer, SseFrame frame, List<SseFrame>? spare)
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
        var ring = _ring!;
        var began = DateTime.UtcNow;
        try
        {
            ring.Submit(_results.AsSpan(0, count));
        }
        catch (Exception)
        {
            // Not expected (the ring only makes system calls), but what the kernel took is then unknown: every send of
            // the batch is treated as one that may still be in flight.
            _results.AsSpan(0, count).Fill(SendRing.Abandoned);
        }

        if (ring.Faulted || _results.AsSpan(0, count).Contains(SendRing.Abandoned))
        {
            // Sends the kernel may still make read their buffers and use their descriptors: the buffers stay pinned for
            // good (their handles are never freed), and this shard sends one system call each from now on.
            _ring = null;
            _ringTried = true;
        }
        else
        {
            for (var i = 0; i < _pinCount; i++)
            {
                _pins[i].Free();
            }
        }

        Array.Clear(_pins, 0, _pinCount);
        _pinCount = 0;
        _pinnedArray = null;

        // Two clock reads for the whole batch: its sends were all made by the one call above.
        var now = DateTime.UtcNow;
        for (var i = 0; i < count; i++)
        {
            var entry = _entries[i];
            _entries[i] = default;
            // The descriptor is let go even for a send that may still be in flight: the kernel resolved it to its socket
            // when it took the send, and holds that socket until the send completes, so a descriptor number reused
            // meanwhile is never sent to. Holding it here instead would make the socket's Dispose spin for good.
            entry.Writer.EndBatchedSend();
            if (_results[i] == SendRing.Abandoned)
            {
                // What of its chunk left is unknown: the stream ends broken.
                entry.Connection.SendAbandoned(entry.Frame, entry.Spare);
                continue;
            }

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

    private readonly record struct Entry(IBatchedSendOwner Connection, SocketChunkWriter Writer, SseFrame Frame, List<SseFrame>? Spare);
}

/// <summary>The stream whose write a <see cref="SocketSendBatch"/> makes, told how the send went once the batch is flushed.</summary>
internal interface IBatchedSendOwner
{
    /// <summary>
    /// Ends a write whose send the batch made in the system call it began at <paramref name="began"/> and returned from at
    /// <paramref name="now"/>: <paramref name="sent"/> is what the socket took (a negative errno or
    /// <see cref="SendRing.NotSubmitted"/> when it took nothing).
    /// </summary>
    void SentInBatch(SseFrame frame, int sent, List<SseFrame>? batch, DateTime began, DateTime now);

    /// <summary>Ends a write whose send may still be in flight (<see cref="SendRing.Abandoned"/>): the stream ends broken.</summary>
    void SendAbandoned(SseFrame frame, List<SseFrame>? batch);
}
