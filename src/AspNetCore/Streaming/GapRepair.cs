namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// Reads a tenant's history after the last event a web server received, until the history answers, for a
/// <see cref="TenantInbox"/> that found a gap. While the history is slow (its silo failing over), the events held
/// behind the gap go out after <see cref="HoldLimit"/> and what the history then finds follows late. One read at a
/// time per tenant; the inbox calls <see cref="Start"/> and receives the answer, both under its own lock.
/// </summary>
/// <param name="tenant">The tenant whose history is read.</param>
/// <param name="services">The web server's listener services.</param>
/// <param name="inboxLock">The inbox's lock, held around every call back into it.</param>
/// <param name="after">Under the inbox's lock: the last sequence received (the history is read after it).</param>
/// <param name="since">When the history cannot start there (an id it never recorded): how far back to read by time.</param>
/// <param name="holdExpired">Under the inbox's lock: the history is slow, release what waits.</param>
/// <param name="repaired">Under the inbox's lock: what the history said, to dispatch; the repair is over.</param>
/// <param name="drain">After each of those, outside the lock: hands what they queued to the connections.</param>
internal sealed partial class GapRepair(
    string tenant,
    ListenerServices services,
    Lock inboxLock,
    Func<long> after,
    Func<DateTime> since,
    Action holdExpired,
    Action<CacheReplay> repaired,
    Action drain)
{
    /// <summary>How long events wait behind a missing one before they go out anyway.</summary>
    public static readonly TimeSpan HoldLimit = TimeSpan.FromMilliseconds(500);

    /// <summary>True from <see cref="Start"/> until the answer was handed over (read under the inbox's lock).</summary>
    public bool Running { get; private set; }

    /// <summary>Starts reading unless a read is already running. Called under the inbox's lock.</summary>
    public void Start()
    {
        if (!Running)
        {
            Running = true;
            _ = RunAsync();
        }
    }

    private async Task RunAsync()
    {
        var hub = services.Client.GetGrain<ICacheHubGrain>(tenant);
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            long from;
            lock (inboxLock)
            {
                from = after();
            }

            var read = hub.Replay(from, null);
            if (!await AnswersWithinHoldAsync(read))
            {
                lock (inboxLock)
                {
                    holdExpired();
                }

                drain();
            }

            try
            {
                var replay = await read.WaitAsync(services.Options.SubscribeTimeout).ConfigureAwait(false);
                if (!replay.Complete)
                {
                    // The last id received may be one the hub never recorded (routed alongside a write that failed):
                    // the history cannot start there, but it can say what happened within the recovery window.
                    replay = await hub.Replay(null, since()).WaitAsync(services.Options.SubscribeTimeout).ConfigureAwait(false);
                }

                services.Metrics.Recovered();
                lock (inboxLock)
                {
                    Running = false;
                    repaired(replay);
                }

                drain();

                return;
            }
            catch (Exception exception)
            {
                LogRepairFailed(services.Logger, tenant, exception);
                await Task.Delay(delay).ConfigureAwait(false);
                delay = delay * 2 < TimeSpan.FromSeconds(2) ? delay * 2 : TimeSpan.FromSeconds(2);
            }
        }
    }

    private static async Task<bool> AnswersWithinHoldAsync(Task read)
    {
        try
        {
            await read.WaitAsync(HoldLimit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception)
        {
            // Failed rather than slow: the caller sees the failure and tries again.
        }

        return true;
    }

    [LoggerMessage(EventId = 4140, Level = LogLevel.Information, Message = "Tenant {Tenant}: reading the history to repair a gap failed; trying again")]
    private static partial void LogRepairFailed(ILogger logger, string tenant, Exception exception);
}
