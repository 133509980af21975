using System.Collections.Concurrent;
using Orleans.Serialization;
using Orleans.Storage;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// Grain storage in memory (with ETag checks, and copies, so a grain's unsaved changes never leak into it) whose
/// writes a test can hold: <see cref="HoldNextWrite"/> stops the next matching write until the test lets it through
/// or fails it, so a test can watch what happens while the write is pending.
/// </summary>
public sealed class GatedGrainStorage(DeepCopier copier) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    private readonly ConcurrentDictionary<(string State, GrainId Grain), (object Value, string ETag)> _stored = new();
    private readonly Lock _lock = new();
    private (Func<string, GrainId, bool> Match, HeldWrite Write)? _hold;
    private long _version;

    /// <summary>Holds the next write of state <paramref name="stateName"/> of a grain whose key contains <paramref name="keyPart"/>.</summary>
    public HeldWrite HoldNextWrite(string stateName, string keyPart)
    {
        var write = new HeldWrite();
        lock (_lock)
        {
            _hold = ((state, grain) => state == stateName && grain.Key.ToString()!.Contains(keyPart, StringComparison.Ordinal), write);
        }

        return write;
    }

    /// <inheritdoc />
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_stored.TryGetValue((stateName, grainId), out var stored))
        {
            grainState.State = copier.Copy((T)stored.Value);
            grainState.ETag = stored.ETag;
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        HeldWrite? held = null;
        lock (_lock)
        {
            if (_hold is { } hold && hold.Match(stateName, grainId))
            {
                held = hold.Write;
                _hold = null;
            }
        }

        if (held is not null && !await held.ReachedAsync())
        {
            throw new IOException($"The test failed this write of {stateName} of {grainId}.");
        }

        var key = (stateName, grainId);
        var etag = Interlocked.Increment(ref _version).ToString(System.Globalization.CultureInfo.InvariantCulture);
        lock (_lock)
        {
            var current = _stored.TryGetValue(key, out var stored) ? stored.ETag : null;
            if (current != grainState.ETag)
            {
                throw new InconsistentStateException($"ETag mismatch writing {stateName} of {grainId}", current, grainState.ETag);
            }

            _stored[key] = (copier.Copy(grainState.State)!, etag);
        }

        grainState.ETag = etag;
        grainState.RecordExists = true;
    }

    /// <inheritdoc />
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        _stored.TryRemove((stateName, grainId), out _);
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Participate(ISiloLifecycle lifecycle)
    {
    }

    /// <summary>One held write: the test learns when it arrived and decides whether it is stored.</summary>
    public sealed class HeldWrite
    {
        private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<bool> _decision = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when the write arrived at storage (and is now held).</summary>
        public Task Arrived => _arrived.Task;

        /// <summary>Lets the write through.</summary>
        public void Release() => _decision.TrySetResult(true);

        /// <summary>Fails the write (storage throws; nothing is stored).</summary>
        public void Fail() => _decision.TrySetResult(false);

        internal Task<bool> ReachedAsync()
        {
            _arrived.TrySetResult();
            return _decision.Task;
        }
    }
}
