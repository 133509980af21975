using System.Runtime.InteropServices;

namespace CountCachula.AspNetCore.Sockets;

// The C library calls and the kernel's structures the ring uses (include/uapi/linux/io_uring.h), as laid out on Linux.
internal sealed unsafe partial class SendRing
{
    [DllImport("libc.so.6", EntryPoint = "syscall", SetLastError = true)]
    private static extern long Syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    [DllImport("libc.so.6", EntryPoint = "mmap", SetLastError = true)]
    private static extern void* Mmap(void* address, nuint length, int protection, int flags, int fd, long offset);

    [DllImport("libc.so.6", EntryPoint = "munmap")]
    private static extern int Munmap(void* address, nuint length);

    [DllImport("libc.so.6", EntryPoint = "close")]
    private static extern int Close(int fd);

    [DllImport("libc.so.6", EntryPoint = "socketpair", SetLastError = true)]
    private static extern int SocketPair(int domain, int type, int protocol, int* pair);

    [StructLayout(LayoutKind.Sequential)]
    private struct SqRingOffsets
    {
        public uint Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Reserved1;
        public ulong Reserved2;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CqRingOffsets
    {
        public uint Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Reserved1;
        public ulong Reserved2;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Params
    {
        public uint SqEntries, CqEntries, Flags, SqThreadCpu, SqThreadIdle, Features, WqFd, Reserved0, Reserved1, Reserved2;
        public SqRingOffsets Sq;
        public CqRingOffsets Cq;
    }

    [StructLayout(LayoutKind.Explicit, Size = 64)]
    private struct Sqe
    {
        [FieldOffset(0)]
        public byte Opcode;

        [FieldOffset(4)]
        public int Fd;

        [FieldOffset(16)]
        public ulong Address;

        [FieldOffset(24)]
        public uint Length;

        [FieldOffset(28)]
        public int MessageFlags;

        [FieldOffset(32)]
        public ulong UserData;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Cqe
    {
        public ulong UserData;
        public int Result;
        public uint Flags;
    }
}
