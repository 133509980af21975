namespace CountCachula.WebFrontend.Streaming;

/// <summary>
/// Puts one tenant's events back in order for this silo. The hub stamps every event with, per receiving silo, the
/// previous event it sent that silo; events can reach a silo over several streams in any order, so an event is
/// dispatched only once its predecessor has been, and a second copy of an event is dropped. A predecessor that never
/// comes within <paramref name="gapTimeout"/> (a silo holding a stream queue died with it, say) is fetched from the
/// hub's history with what else is missing; only what the history cannot supply is given up, and if it turns up
/// later after all it is still dispatched, late rather than lost. When the hub lost its record (it restarted; its
/// stamps then say 0), the history is asked at once what happened in between.
/// </summary>
/// <param name="siloId">This silo's id in the hub's stamps.</param>
/// <param name="gapTimeout">How long an event waits for a missing predecessor before the history is asked.</param>
/// <param name="dispatch">Receives the events, once each, in order.</param>
/// <param name="gapSkipped">Told the sequence of each predecessor that was given up on.</param>
/// <param name="recover">Reads the history: the events after the first sequence and before the second, oldest first.</param>
internal sealed class SiloSequence(
    string siloId,
    TimeSpan gapTimeout,
    Action<CacheEvent> dispatch,
    Action<long> gapSkipped,
    Func<long, long, Task<IReadOnlyList<CacheEvent>>>? recover = null)
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<long, (CacheEvent Event, long Previous, long HeldAt)> _held = [];

    // Predecessors given up on, with the sequence dispatched before them: if one arrives late it still goes out.
    private readonly Dictionary<long, long> _givenUp = [];
    private long _last;
    private bool _started;
    private bool _recovering;
    private Timer? _gapTimer;

    /// <summary>The sequence of the last event dispatched here.</summary>
    public long Last
    {
        get
        {
            lock (_lock)
            {
                return _last;
            }
        }
    }

    /// <summary>
    /// Starts the chain where the hub says it stands for this silo; only the first call counts, since later ones may
    /// report events that are still in flight to us.
    /// </summary>
    public void Start(long lastSentByHub)
    {
        lock (_lock)
        {
            if (!_started)
            {
                _started = true;
                _last = Math.Max(_last, lastSentByHub);
            }
        }
    }

    /// <summary>Takes an event from any stream; dispatches it and whatever it unblocks, in order.</summary>
    public void Offer(CacheEvent cacheEvent)
    {
        // An event not addressed to this silo came over a stream we are joining or leaving: whoever wants it here
        // gets it through a stream that was addressed, so it is safe to drop.
        if (cacheEvent.PreviousBySilo is null || !cacheEvent.PreviousBySilo.TryGetValue(siloId, out var previous))
        {
            return;
        }

        lock (_lock)
        {
            if (_givenUp.Remove(cacheEvent.Sequence, out var floor))
            {
                // Late, not lost: send it, and keep waiting for its own predecessor if that was missing too.
                if (previous > floor && previous < cacheEvent.Sequence)
                {
                    _givenUp[previous] = floor;
                }

                dispatch(cacheEvent);
                return;
            }

            if (cacheEvent.Sequence <= _last || _held.ContainsKey(cacheEvent.Sequence))
            {
                return;
            }

            if (previous == 0 && _last > 0 && recover is not null)
            {
                // The hub lost its record of us (it restarted): ask its history what happened in between.
                _held[cacheEvent.Sequence] = (cacheEvent, _last, Environment.TickCount64);
                StartRecoveryLocked(cacheEvent.Sequence);
                return;
            }

            if (previous <= _last)
            {
                DispatchLocked(cacheEvent);
                DrainLocked();
                return;
            }

            _held[cacheEvent.Sequence] = (cacheEvent, previous, Environment.TickCount64);
            _gapTimer ??= new Timer(_ => OnGapTimer(), null, gapTimeout, gapTimeout);
        }
    }

    private void OnGapTimer()
    {
        lock (_lock)
        {
            if (_held.Count == 0 || _recovering)
            {
                return;
            }

            var (sequence, oldest) = _held.First();
            if (Environment.TickCount64 - oldest.HeldAt < (long)gapTimeout.TotalMilliseconds)
            {
                return;
            }

            if (recover is not null)
            {
                StartRecoveryLocked(sequence);
                return;
            }

            SkipGapLocked();
        }
    }

    private void StartRecoveryLocked(long before)
    {
        if (_recovering)
        {
            return;
        }

        _recovering = true;
        var after = _last;
        _ = Task.Run(async () =>
        {
            IReadOnlyList<CacheEvent> found;
            try
            {
                found = await recover!(after, before);
            }
            catch (Exception)
            {
                // The hub is unreachable right now: the gap timer tries again, and gives up only what stays missing.
                found = [];
            }

            lock (_lock)
            {
                _recovering = false;
                foreach (var cacheEvent in found)
                {
                    if (cacheEvent.Sequence > _last && cacheEvent.Sequence < before && !_held.ContainsKey(cacheEvent.Sequence))
                    {
                        DispatchLocked(cacheEvent);
                    }
                }

                if (_held.Count > 0 && _held.First().Key == before && _held[before].Previous > _last)
                {
                    // The history could not supply the predecessor either.
                    SkipGapLocked();
                }

                DrainLocked();
            }
        });
    }

    private void SkipGapLocked()
    {
        var (sequence, oldest) = _held.First();

        // The predecessor is not coming: carry on from here, but let it through if it turns up.
        gapSkipped(oldest.Previous);
        if (_givenUp.Count >= 4096)
        {
            _givenUp.Clear();
        }

        _givenUp[oldest.Previous] = _last;
        _held.Remove(sequence);
        DispatchLocked(oldest.Event);
        DrainLocked();
    }

    private void DrainLocked()
    {
        while (_held.Count > 0)
        {
            var (sequence, next) = _held.First();
            if (sequence <= _last)
            {
                _held.Remove(sequence);
                continue;
            }

            if (next.Previous > _last)
            {
                break;
            }

            _held.Remove(sequence);
            DispatchLocked(next.Event);
        }

        if (_held.Count == 0 && _gapTimer is not null)
        {
            _gapTimer.Dispose();
            _gapTimer = null;
        }
    }

    private void DispatchLocked(CacheEvent cacheEvent)
    {
        _last = cacheEvent.Sequence;
        dispatch(cacheEvent);
    }
}
