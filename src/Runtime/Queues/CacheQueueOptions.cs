namespace CountCachula.Runtime.Queues;

/// <summary>How the readers of the hub's stream queues wait (named options, by stream provider name).</summary>
internal sealed class CacheQueueOptions
{
    /// <summary>
    /// How long one read waits in the queue grain for a batch before it is asked again. Only the idle cost depends on
    /// it (one call per queue per wait); it must stay well below the cluster's response timeout.
    /// </summary>
    public TimeSpan ReadWait { get; set; } = TimeSpan.FromSeconds(5);
}
