using System.Runtime;
using CountCachula.AspNetCore.Sse;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// Gives memory back once a flood of big events is over (<see cref="CountCachulaOptions.CompactAfterBigEvents"/>).
/// Every big event leaves large-object-heap garbage on its way here (its request body, its copies through the silo's
/// streams), which only a full collection frees; once publishing stops the process allocates next to nothing, so no
/// collection comes, and that garbage (1.4 GB after the attack in docs/security.md) stays resident for good. So: when
/// at least <see cref="Threshold"/> bytes of big frames were made since the last time and none in the last
/// <see cref="Interval"/>, the heap is collected and compacted once, large objects included, and its free memory
/// returned to the operating system. A pause in the middle of a flood (a busy machine) may be taken for its end: any big
/// frames made within 3 minutes of a flood's compaction then earn another once they stop. Never more often than
/// <see cref="MinimumSpacing"/>; nothing at all while no big event comes (one timer tick every few seconds).
/// </summary>
internal sealed partial class BigEventRelief(IOptions<CountCachulaOptions> options, ILogger<BigEventRelief> logger) : BackgroundService
{
    /// <summary>How often the bytes of big frames made are looked at.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary>The least time between two compactions.</summary>
    public static readonly TimeSpan MinimumSpacing = TimeSpan.FromSeconds(30);

    /// <summary>How many bytes of big frames (see <see cref="SseFrame.PooledFrom"/>) make a flood worth a compaction.</summary>
    public const long Threshold = 64L * 1024 * 1024;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.CompactAfterBigEvents)
        {
            return;
        }

        using var timer = new PeriodicTimer(Interval);
        var seen = SseFrame.PooledBytesMade;
        var flood = 0L;
        var last = DateTime.MinValue;
        var lastFlood = DateTime.MinValue;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var made = SseFrame.PooledBytesMade;
                var added = made - seen;
                seen = made;
                if (added > 0)
                {
                    flood += added;
                    continue;
                }

                // Within 3 minutes of a flood's compaction (not extended by the follow-ups), any big frames count.
                var now = DateTime.UtcNow;
                var isFlood = flood >= Threshold;
                if ((isFlood || (flood > 0 && now - lastFlood < TimeSpan.FromMinutes(3))) && now - last >= MinimumSpacing)
                {
                    Compact(flood);
                    flood = 0;
                    last = now;
                    lastFlood = isFlood ? now : lastFlood;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private void Compact(long flood)
    {
        var before = Environment.WorkingSet;
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        LogCompacted(logger, flood / (1024 * 1024), before / (1024 * 1024), Environment.WorkingSet / (1024 * 1024));
    }

    [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "{FloodMegabytes} MB of big events are over: heap compacted once, working set {BeforeMegabytes} MB -> {AfterMegabytes} MB (CountCachula:CompactAfterBigEvents)")]
    private static partial void LogCompacted(ILogger logger, long floodMegabytes, long beforeMegabytes, long afterMegabytes);
}
