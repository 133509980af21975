using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace CountCachula.AspNetCore.Sockets;

/// <summary>
/// Asks the CPU to start loading a cache line and returns at once. A fan-out writes thousands of connections whose
/// objects are no longer in the cache; reading one (even ahead of time) stalls the writing core until it arrives, while a
/// prefetch lets the load run alongside the previous connection's <c>send</c>.
/// </summary>
/// <remarks>
/// An address taken here is only a hint: the garbage collector may move the object a moment later, and a prefetch of an
/// address that no longer holds it (or any address at all) neither faults nor changes what the program sees. Where the
/// CPU has no prefetch instruction exposed to .NET, these do nothing.
/// </remarks>
internal static class CacheLine
{
    /// <summary>Starts loading the cache line that holds <paramref name="location"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch<T>(ref T location)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(Unsafe.AsPointer(ref location));
        }
    }

    /// <summary>Starts loading the cache line where <paramref name="target"/> begins (its type and first fields).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch<T>(T? target)
        where T : class
    {
        if (target is not null)
        {
            Prefetch(ref Unsafe.As<FirstField>(target).Value);
        }
    }

    /// <summary>Any object seen as this one: its first field's address is just past the object's type pointer.</summary>
    private sealed class FirstField
    {
        public byte Value;
    }
}
