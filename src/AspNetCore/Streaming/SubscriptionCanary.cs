using Orleans.Storage;
using Orleans.Streams;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// A subscription of this server's that carries nothing, to a stream of its own: the cluster's pub-sub loses it
/// exactly when it loses the tenants' inbox subscriptions (its storage came back empty), so checking this one checks
/// them all with a single call.
/// </summary>
/// <param name="client">The cluster.</param>
/// <param name="identity">This server's listener identity (the canary's stream is named after it).</param>
internal sealed class SubscriptionCanary(IClusterClient client, ListenerIdentity identity)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private StreamSubscriptionHandle<CacheEvent>? _canary;
    private DateTime _verifiedAtUtc = DateTime.UtcNow;

    /// <summary>When the canary was last found known (<see cref="DateTime.MaxValue"/> before it was subscribed: nothing to verify yet).</summary>
    public DateTime VerifiedAtUtc => Volatile.Read(ref _canary) is null ? DateTime.MaxValue : _verifiedAtUtc;

    /// <summary>Subscribes the canary unless it is already.</summary>
    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _canary) is not null)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_canary is null)
            {
                var handle = await Canary().SubscribeAsync(static (_, _) => Task.CompletedTask);
                _verifiedAtUtc = DateTime.UtcNow;
                Volatile.Write(ref _canary, handle);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// False when the cluster's pub-sub no longer knows the canary subscription; it is then taken out again. The
    /// pub-sub grain answers reads from its activation's memory, which outlives a storage that came back empty, so the
    /// check also writes: it renews the canary. A storage that lost the record refuses that write (a version
    /// conflict) and the pub-sub grain deactivates, so the loss shows here even while the activation lives on.
    /// </summary>
    public async Task<bool> IsKnownAsync()
    {
        if (Volatile.Read(ref _canary) is not { } handle)
        {
            return true;
        }

        var known = await Canary().GetAllSubscriptionHandles();
        var lost = !known.Any(h => h.HandleId == handle.HandleId);
        await _gate.WaitAsync();
        try
        {
            StreamSubscriptionHandle<CacheEvent> renewed;
            try
            {
                renewed = await Canary().SubscribeAsync(static (_, _) => Task.CompletedTask);
            }
            catch (Exception exception) when (IsVersionConflict(exception))
            {
                // The activation that refused is going away; the next one reads what the storage really holds.
                lost = true;
                renewed = await Canary().SubscribeAsync(static (_, _) => Task.CompletedTask);
            }

            Volatile.Write(ref _canary, renewed);
            _verifiedAtUtc = DateTime.UtcNow;
            if (!lost)
            {
                await handle.UnsubscribeAsync();
            }
        }
        finally
        {
            _gate.Release();
        }

        return !lost;
    }

    private static bool IsVersionConflict(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is InconsistentStateException)
            {
                return true;
            }
        }

        return false;
    }

    private IAsyncStream<CacheEvent> Canary() =>
        client.GetStreamProvider(CacheTopics.StreamProvider).GetStream<CacheEvent>(CacheStreams.Canary(identity.Id));
}
