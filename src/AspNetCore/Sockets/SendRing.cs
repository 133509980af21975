using System.Runtime.InteropServices;

namespace CountCachula.AspNetCore.Sockets;

/// <summary>
/// A Linux io_uring used for one thing: handing the kernel the non-blocking sends of many sockets in one system call.
/// A fan-out to thousands of streams is otherwise one <c>send</c> system call per stream, and on a busy machine each
/// return to user space is a point where the writing thread is preempted by the readers it just woke.
/// </summary>
/// <remarks>
/// <para>Every send is made with <c>MSG_DONTWAIT</c>, which io_uring answers at once: the bytes the socket took, or
/// <c>-EAGAIN</c> when its buffer is full — never a send parked in the kernel to finish later. <see cref="TryCreate"/>
/// checks exactly that on a socket pair before the ring is used, so a submission always completes before it returns.</para>
/// <para>Not safe for concurrent use: one writer shard's thread at a time (which <c>WriterShard</c> guarantees).</para>
/// </remarks>
internal sealed unsafe partial class SendRing : IDisposable
{
    /// <summary>How many sends one submission holds at most.</summary>
    public const int Size = 64;

    /// <summary>The result of a send the kernel did not take at all (the caller then sends it another way).</summary>
    public const int NotSubmitted = int.MinValue;

    /// <summary>
    /// The result of a send the kernel took but whose completion could not be waited for (see <see cref="Faulted"/>):
    /// it may still be in flight, so its buffer must stay pinned for good, and its stream cannot tell what of its chunk
    /// left.
    /// </summary>
    public const int Abandoned = int.MinValue + 1;

    // The Linux ABI (include/uapi/linux/io_uring.h). The system call numbers are the same on x86-64 and arm64.
    private const long SysIoUringSetup = 425;
    private const long SysIoUringEnter = 426;
    private const uint SetupSubmitAll = 1u << 7;
    private const uint FeatureSingleMmap = 1u << 0;
    private const uint EnterGetEvents = 1u << 0;
    private const byte OpSend = 26;
    private const long OffsetSqRing = 0;
    private const long OffsetCqRing = 0x8000000;
    private const long OffsetSqes = 0x10000000;
    private const int ProtReadWrite = 0x1 | 0x2;
    private const int MapSharedPopulate = 0x01 | 0x8000;
    private const int EIntr = 4;
    private const int EInval = 22;
    private const int EAgain = 11;
    private const int AfUnix = 1;
    private const int SockStreamNonBlocking = 1 | 0x800;

    private static string? s_unavailable;
    private static int s_created;

    private readonly int _fd;
    private readonly byte* _sqRing;
    private readonly nuint _sqRingSize;
    private readonly byte* _cqRing;
    private readonly nuint _cqRingSize;
    private readonly Sqe* _sqes;
    private readonly nuint _sqesSize;
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly Cqe* _cqes;
    private uint _tail;
    private int _prepared;
    private bool _disposed;

    /// <param name="fd">The ring's descriptor, closed here when the constructor throws.</param>
    /// <param name="parameters">What io_uring_setup answered.</param>
    private SendRing(int fd, in Params parameters)
    {
        _fd = fd;
        _sqRingSize = parameters.Sq.Array + (parameters.SqEntries * sizeof(uint));
        _cqRingSize = parameters.Cq.Cqes + (parameters.CqEntries * (uint)sizeof(Cqe));
        var single = (parameters.Features & FeatureSingleMmap) != 0;
        if (single)
        {
            _sqRingSize = _cqRingSize = Math.Max(_sqRingSize, _cqRingSize);
        }

        _sqesSize = parameters.SqEntries * (nuint)sizeof(Sqe);
        try
        {
            _sqRing = Map(_sqRingSize, OffsetSqRing);
            _cqRing = single ? _sqRing : Map(_cqRingSize, OffsetCqRing);
            _sqes = (Sqe*)Map(_sqesSize, OffsetSqes);
        }
        catch
        {
            // What was mapped before the failing mapping is unmapped (the pointers not yet mapped are still null).
            if (_cqRing is not null && _cqRing != _sqRing)
            {
                Unmap(_cqRing, _cqRingSize);
            }

            if (_sqRing is not null)
            {
                Unmap(_sqRing, _sqRingSize);
            }

            Close(fd);
            throw;
        }

        _sqHead = (uint*)(_sqRing + parameters.Sq.Head);
        _sqTail = (uint*)(_sqRing + parameters.Sq.Tail);
        _sqMask = *(uint*)(_sqRing + parameters.Sq.RingMask);
        _cqHead = (uint*)(_cqRing + parameters.Cq.Head);
        _cqTail = (uint*)(_cqRing + parameters.Cq.Tail);
        _cqMask = *(uint*)(_cqRing + parameters.Cq.RingMask);
        _cqes = (Cqe*)(_cqRing + parameters.Cq.Cqes);
        _tail = Volatile.Read(ref *_sqTail);

        // Entry i of the submission queue always names SQE i: SQEs are filled at the same positions the queue moves through.
        var array = (uint*)(_sqRing + parameters.Sq.Array);
        for (uint i = 0; i < parameters.SqEntries; i++)
        {
            array[i] = i;
        }
    }

    /// <summary>
    /// True once a submission's sends could not be waited for: some may still be in flight (their results are
    /// <see cref="Abandoned"/>). The ring is not used again.
    /// </summary>
    public bool Faulted { get; private set; }

    /// <summary>Why this process makes one system call per send, once <see cref="TryCreate"/> found out; else null.</summary>
    public static string? Unavailable => Volatile.Read(ref s_unavailable);

    /// <summary>
    /// How this process's writer shards make their sends, for operators: batched through io_uring, one system call
    /// each (and why), or not known yet (no stream was written to its socket so far).
    /// </summary>
    public static string Status =>
        Volatile.Read(ref s_created) > 0 ? "batched (io_uring)"
        : Unavailable is { } reason ? $"one system call per send ({reason})"
        : "not known yet (no stream written to its socket)";

    /// <summary>
    /// A ring whose sends were checked to complete at once, or null (and <see cref="Unavailable"/> says why) where the
    /// kernel or the process's sandbox does not offer one: another OS, a kernel before 5.6, io_uring turned off by
    /// <c>kernel.io_uring_disabled</c>, or a seccomp profile that refuses it (as container runtimes' defaults do).
    /// </summary>
    public static SendRing? TryCreate()
    {
        if (!OperatingSystem.IsLinux())
        {
            return Refuse("io_uring is Linux only");
        }

        SendRing ring;
        try
        {
            var parameters = default(Params);
            parameters.Flags = SetupSubmitAll;
            var fd = Syscall(SysIoUringSetup, Size, (long)&parameters, 0, 0, 0, 0);
            if (fd < 0 && Marshal.GetLastPInvokeError() == EInval)
            {
                // A kernel before 5.18 does not know SUBMIT_ALL. Every send is checked on its own anyway.
                parameters = default;
                fd = Syscall(SysIoUringSetup, Size, (long)&parameters, 0, 0, 0, 0);
            }

            if (fd < 0)
            {
                return Refuse($"io_uring_setup failed with errno {Marshal.GetLastPInvokeError()}");
            }

            ring = new SendRing((int)fd, parameters);
        }
        catch (Exception exception) when (exception is DllNotFoundException or EntryPointNotFoundException or IOException)
        {
            // A failure a test injected says nothing about this process's kernel.
            return t_failMapAt is null ? Refuse(exception.Message) : null;
        }

        var problem = ring.Probe();
        if (problem is not null)
        {
            ring.Dispose();
            return Refuse(problem);
        }

        Interlocked.Increment(ref s_created);
        return ring;
    }

    /// <summary>
    /// Prepares a send of <paramref name="length"/> bytes at <paramref name="buffer"/> to socket <paramref name="fd"/>,
    /// whose result <see cref="Submit"/> puts at <paramref name="slot"/>. At most <see cref="Size"/> between submissions;
    /// the buffer and the descriptor must stay valid until then.
    /// </summary>
    public void Prepare(int fd, byte* buffer, int length, int slot)
    {
        var sqe = _sqes + (_tail & _sqMask);
        *sqe = default;
        sqe->Opcode = OpSend;
        sqe->Fd = fd;
        sqe->Address = (ulong)buffer;
        sqe->Length = (uint)length;
        sqe->MessageFlags = SocketChunkWriter.NonBlockingSendFlags;
        sqe->UserData = (ulong)slot;
        _tail++;
        _prepared++;
    }

    /// <summary>
    /// Submits what was prepared, in one system call, and fills <paramref name="results"/> (one per slot): the bytes
    /// each socket took, a negative errno (<c>-EAGAIN</c> for a full buffer), or <see cref="NotSubmitted"/>.
    /// </summary>
    public void Submit(Span<int> results) => SubmitAndReap(results, wait: true);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Unmap(_sqes, _sqesSize);
        if (_cqRing != _sqRing)
        {
            Unmap(_cqRing, _cqRingSize);
        }

        Unmap(_sqRing, _sqRingSize);
        Close(_fd);
    }

    private void SubmitAndReap(Span<int> results, bool wait)
    {
        var count = _prepared;
        _prepared = 0;
        results[..count].Fill(NotSubmitted);
        if (count == 0)
        {
            return;
        }

        if (Faulted)
        {
            // Never submitted again: what was prepared is withdrawn (the kernel has not seen the tail that covers it).
            _tail -= (uint)count;
            return;
        }

        // Release: the SQEs are written before the kernel can see the tail that covers them.
        Volatile.Write(ref *_sqTail, _tail);
        long submitted;
        do
        {
            // With GETEVENTS the call returns once every submitted send has completed, which a MSG_DONTWAIT send does
            // during its submission.
            submitted = Syscall(SysIoUringEnter, _fd, count, wait ? count : 0, wait ? EnterGetEvents : 0, 0, 0);
        }
        while (submitted < 0 && Marshal.GetLastPInvokeError() == EIntr);

        submitted = Math.Max(0, submitted);
        if (submitted < count)
        {
            // What the kernel did not take is withdrawn (it reads the queue only inside io_uring_enter), so no later call
            // sends it behind the caller's back; those slots stay NotSubmitted.
            _tail = Volatile.Read(ref *_sqHead);
            Volatile.Write(ref *_sqTail, _tail);
        }

        var failReap = FailNextReapForTests;
        FailNextReapForTests = false;
        var completed = failReap ? 0 : Reap(results);
        while (wait && completed < submitted)
        {
            // Not expected (the sends complete as they are submitted), but a result must not be left behind.
            if (failReap || (Syscall(SysIoUringEnter, _fd, 0, submitted - completed, EnterGetEvents, 0, 0) < 0 && Marshal.GetLastPInvokeError() != EIntr))
            {
                // The kernel took sends it has not answered: they may still read their buffers, which the caller must
                // keep pinned for good. The ring is given up.
                Faulted = true;
                for (var slot = 0; slot < submitted; slot++)
                {
                    if (results[slot] == NotSubmitted)
                    {
                        results[slot] = Abandoned;
                    }
                }

                break;
            }

            completed += Reap(results);
        }
    }

    private int Reap(Span<int> results)
    {
        var head = *_cqHead;
        var tail = Volatile.Read(ref *_cqTail);
        var reaped = 0;
        while (head != tail)
        {
            var cqe = _cqes[head & _cqMask];
            if (cqe.UserData < (ulong)results.Length)
            {
                results[(int)cqe.UserData] = cqe.Result;
            }

            head++;
            reaped++;
        }

        Volatile.Write(ref *_cqHead, head);
        return reaped;
    }
}
