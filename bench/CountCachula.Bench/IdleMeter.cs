using System.Diagnostics;

namespace CountCachula.Bench;

/// <summary>What the started servers spent while nothing was published: the idle cost of the connections they hold.</summary>
/// <param name="Seconds">How long the measurement lasted.</param>
/// <param name="Cpu">utime + stime of all the servers over that time.</param>
/// <param name="JitSeconds">The part of it the tiered-compilation workers spent (start-up cost showing through).</param>
/// <param name="ResidentBytes">The servers' RSS at the end.</param>
internal sealed record IdleFigures(double Seconds, TimeSpan Cpu, double JitSeconds, long ResidentBytes)
{
    /// <summary>CPU as a percentage of one core.</summary>
    public double Percent => Cpu.TotalSeconds / Seconds * 100;

    /// <summary>The tiered-compilation workers' share, in points of <see cref="Percent"/>.</summary>
    public double JitPercent => JitSeconds / Seconds * 100;
}

/// <summary>The <c>--hold</c> measurement, shared by the normal run and <c>--tenants</c>.</summary>
internal static class IdleMeter
{
    /// <summary>
    /// Waits until the connections of this process have gone quiet, then <paramref name="settleSeconds"/> more, then
    /// measures the servers' CPU (from <c>/proc/&lt;pid&gt;/stat</c>) over <paramref name="holdSeconds"/> and their RSS.
    /// </summary>
    public static async Task<IdleFigures> MeasureAsync(IReadOnlyList<ServerProcess> servers, double settleSeconds, double holdSeconds)
    {
        // After warm-up and a settling wait (most JIT tiering done), nothing is published while the connections are
        // held: what the server spends now is its idle cost (heartbeats, stream polling, timers) at this many connections.
        // The warm-up's deliveries to many connections can take a while: settle from when the connections went quiet.
        for (var lastBytes = -1L; SseLoadConnection.BytesReceived != lastBytes;)
        {
            lastBytes = SseLoadConnection.BytesReceived;
            await Task.Delay(TimeSpan.FromSeconds(2));
        }

        await Task.Delay(TimeSpan.FromSeconds(settleSeconds));
        var jitBefore = servers.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.JitCpuTime());
        var cpuBefore = servers.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.ProcStatCpuTime());
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(holdSeconds));
        var cpu = servers.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.ProcStatCpuTime()) - cpuBefore;
        var jitSeconds = (servers.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.JitCpuTime()) - jitBefore).TotalSeconds;
        var seconds = clock.Elapsed.TotalSeconds;
        return new IdleFigures(seconds, cpu, jitSeconds, servers.Sum(s => s.ResidentBytes()));
    }
}
