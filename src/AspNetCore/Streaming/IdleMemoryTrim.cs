using System.Runtime;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// Gives memory back to the machine after many tenants left this server. Their listeners are forgotten here a moment
/// after their last stream closes, and their grains a few minutes later (<c>IdleGrainCollectionAge</c> plus Orleans'
/// one-minute collection pass); by then the process is idle, so nothing would make the GC run, and even a GC keeps the
/// freed regions committed for reuse. Once those grains are gone, one aggressive collection compacts the heap and
/// decommits what is free. It runs only after a large departure, never on a schedule, so a steady hub never pays it.
/// </summary>
internal sealed class IdleMemoryTrim(int threshold, TimeSpan delay)
{
    /// <summary>Tenants that must have left since the last trim before one is worth it.</summary>
    public const int DefaultThreshold = 1_000;

    /// <summary>
    /// How long after the last departure the trim waits: the silo default of two minutes of idleness before a tenant's
    /// grains are collected, plus the collector's one-minute pass.
    /// </summary>
    public static readonly TimeSpan DefaultDelay = TimeSpan.FromMinutes(3.5);

    private int _forgotten;
    private DateTime _lastForgottenUtc;

    /// <summary>How many trims ran (diagnostics and tests).</summary>
    public int Trims { get; private set; }

    /// <summary>Notes that <paramref name="tenants"/> tenants were forgotten at <paramref name="nowUtc"/>.</summary>
    public void Forgot(int tenants, DateTime nowUtc)
    {
        if (tenants > 0)
        {
            _forgotten += tenants;
            _lastForgottenUtc = nowUtc;
        }
    }

    /// <summary>Runs the trim when enough tenants left and the last left long enough ago; true when it ran.</summary>
    public bool MaybeTrim(DateTime nowUtc)
    {
        if (_forgotten < threshold || nowUtc - _lastForgottenUtc < delay)
        {
            return false;
        }

        _forgotten = 0;
        Trims++;
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return true;
    }
}
