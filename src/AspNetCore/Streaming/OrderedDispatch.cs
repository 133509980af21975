using CountCachula.AspNetCore.Delivery;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// What a <see cref="TenantInbox"/> decided to send, in the order it decided it, handed to the connections after its
/// lock is released. The inbox adds under its lock; <see cref="Drain"/>, called after the lock section, hands out
/// what waits, on one thread at a time.
/// </summary>
/// <param name="tenant">The tenant whose events these are.</param>
/// <param name="services">The web server's listener services (the dispatcher).</param>
/// <param name="inboxLock">The inbox's lock, which also guards this queue.</param>
internal sealed partial class OrderedDispatch(string tenant, ListenerServices services, Lock inboxLock)
{
    private readonly Queue<Outgoing> _outgoing = new();
    private bool _draining;

    /// <summary>Under the inbox's lock: <paramref name="cacheEvent"/> is to be dispatched after what was added before.</summary>
    public void Add(CacheEvent cacheEvent, bool fromHistory, bool late) => _outgoing.Enqueue(new Outgoing(cacheEvent, fromHistory, late, Frames: null));

    /// <summary>Under the inbox's lock: <paramref name="frames"/>, addressed to connections already, go out after what was added before.</summary>
    public void Add(PerShardFrames frames) => _outgoing.Enqueue(new Outgoing(null, FromHistory: false, Late: false, frames));

    /// <summary>
    /// Hands what the lock sections queued to the connections, in order, outside the lock. One thread drains at a time
    /// (another that queued meanwhile leaves its part to it); an event whose observers must finish first (an eviction
    /// the store has not confirmed) is dispatched when they did, and the drain goes on from there.
    /// </summary>
    public void Drain()
    {
        lock (inboxLock)
        {
            if (_draining || _outgoing.Count == 0)
            {
                return;
            }

            _draining = true;
        }

        DrainQueued();
    }

    /// <summary>Runs the drain this thread owns until nothing is queued or an event must wait for its observers.</summary>
    private void DrainQueued()
    {
        while (true)
        {
            Outgoing next;
            lock (inboxLock)
            {
                if (!_outgoing.TryDequeue(out next))
                {
                    _draining = false;
                    return;
                }
            }

            if (next.Frames is { } frames)
            {
                frames.Hand();
                continue;
            }

            var prepared = services.Dispatcher.PrepareAsync(next.Event!);
            if (!prepared.IsCompleted)
            {
                _ = DispatchWhenPreparedAsync(prepared, next);
                return;
            }

            Dispatch(next);
        }
    }

    private async Task DispatchWhenPreparedAsync(ValueTask prepared, Outgoing next)
    {
        try
        {
            await prepared.ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // An observer must not fail; if one did, the browsers are still told.
            LogDispatchFailed(services.Logger, tenant, next.Event!.Sequence, exception);
        }

        Dispatch(next);
        DrainQueued();
    }

    private void Dispatch(Outgoing outgoing)
    {
        try
        {
            services.Dispatcher.Dispatch(outgoing.Event!, outgoing.FromHistory, outgoing.Late);
        }
        catch (Exception exception)
        {
            // The drain must go on: the events after this one are still owed to the tenant's streams.
            LogDispatchFailed(services.Logger, tenant, outgoing.Event!.Sequence, exception);
        }
    }

    /// <summary>An event to dispatch (<paramref name="Event"/>), or frames already addressed to each connection (<paramref name="Frames"/>).</summary>
    private readonly record struct Outgoing(CacheEvent? Event, bool FromHistory, bool Late, PerShardFrames? Frames);

    [LoggerMessage(EventId = 4260, Level = LogLevel.Error, Message = "Tenant {Tenant}: dispatching event {Sequence} failed")]
    private static partial void LogDispatchFailed(ILogger logger, string tenant, long sequence, Exception exception);
}
