using System.Runtime.InteropServices;

namespace CountCachula.AspNetCore.Sockets;

// Setting the ring up: checking that its sends complete at once, mapping its queues, and the seams tests fault it through.
internal sealed unsafe partial class SendRing
{
    // Test seams, per thread so that tests running in parallel do not see each other's: the offset whose mapping fails
    // as if mmap had refused it, and how many of the thread's mappings are still mapped.
    [ThreadStatic]
    private static long? t_failMapAt;

    [ThreadStatic]
    private static int t_mapped;

    /// <summary>Makes the next submission behave as if waiting for its sends' completions failed (for tests).</summary>
    internal bool FailNextReapForTests { get; set; }

    /// <summary>
    /// For tests, on the calling thread only: makes the mapping at offset <paramref name="failMapAt"/> fail as if mmap refused it
    /// (null: none fails), and answers how many mappings made on this thread are still mapped.
    /// </summary>
    internal static int MappedOnThisThread(long? failMapAt)
    {
        t_failMapAt = failMapAt;
        return t_mapped;
    }

    /// <summary>The offset of the submission queue entries' mapping (the last one the constructor makes).</summary>
    internal const long SqesOffsetForTests = OffsetSqes;

    /// <summary>
    /// Checks on a socket pair that a send through the ring delivers, and that one to a full socket answers
    /// <c>-EAGAIN</c> as it is submitted (an older kernel would park it instead, and a submission could then wait for a
    /// client that never reads). Returns what is wrong, or null.
    /// </summary>
    private string? Probe()
    {
        var pair = stackalloc int[2];
        if (SocketPair(AfUnix, SockStreamNonBlocking, 0, pair) != 0)
        {
            return $"socketpair failed with errno {Marshal.GetLastPInvokeError()}";
        }

        try
        {
            var results = stackalloc int[1];
            var bytes = stackalloc byte[4096];
            Prepare(pair[0], bytes, 1, 0);
            SubmitAndReap(new Span<int>(results, 1), wait: false);
            if (results[0] != 1)
            {
                return $"a send through io_uring answered {results[0]}";
            }

            // Fill the socket, then ask for one byte more.
            while (SocketChunkWriter.Send(pair[0], ref *bytes, 4096, SocketChunkWriter.NonBlockingSendFlags) > 0)
            {
            }

            Prepare(pair[0], bytes, 1, 0);
            SubmitAndReap(new Span<int>(results, 1), wait: false);
            return results[0] == -EAgain ? null : $"a send to a full socket through io_uring answered {results[0]} instead of -EAGAIN at once";
        }
        finally
        {
            Close(pair[0]);
            Close(pair[1]);
        }
    }

    private byte* Map(nuint size, long offset)
    {
        if (t_failMapAt == offset)
        {
            throw new IOException($"mmap of the io_uring at {offset:x} failed (as a test asked)");
        }

        var address = Mmap(null, size, ProtReadWrite, MapSharedPopulate, _fd, offset);
        if (address == (void*)-1)
        {
            throw new IOException($"mmap of the io_uring failed with errno {Marshal.GetLastPInvokeError()}");
        }

        t_mapped++;
        return (byte*)address;
    }

    private static void Unmap(void* address, nuint size)
    {
        Munmap(address, size);
        t_mapped--;
    }

    private static SendRing? Refuse(string reason)
    {
        Interlocked.CompareExchange(ref s_unavailable, reason, null);
        return null;
    }
}
