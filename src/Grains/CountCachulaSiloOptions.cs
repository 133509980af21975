namespace CountCachula.Grains;

/// <summary>How a silo hosts Count Cachula's grains and streams.</summary>
public sealed class CountCachulaSiloOptions
{
    /// <summary>
    /// How long a stream pulling agent waits before polling its queue again after finding it empty. Orleans' default
    /// of 100 ms would dominate publish-to-browser latency; each poll of an idle queue costs a little CPU.
    /// </summary>
    public TimeSpan StreamPollInterval { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>How many memory queues carry the streams. Each one is polled by its own agent.</summary>
    public int StreamQueueCount { get; set; } = 2;
}
