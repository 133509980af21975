using System.Collections.Concurrent;
using CountCachula.AspNetCore.Interests;

namespace CountCachula.AspNetCore.Connections;

/// <summary>
/// The SSE connections this silo holds, per tenant, with each tenant's interest index.
/// Readers get an immutable snapshot array without locking or allocating; adding or removing a connection replaces
/// that tenant's array. Tenants never share an index, so tags are never compared across tenants. A tenant's entry
/// and index are dropped when its last connection leaves, so memory follows the tenants connected now, not every
/// tenant ever seen.
/// </summary>
internal sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, TenantConnections> _tenants = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = NewSignal();
    private int _count;

    /// <summary>How many connections this silo holds, all tenants together.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The tenants that have connections here.</summary>
    public ICollection<string> Tenants => _tenants.Keys;

    /// <summary>Registers <paramref name="connection"/> with its current interests. Registering the same connection id again changes nothing.</summary>
    /// <returns>False when a connection with that id was already registered.</returns>
    public bool Add(SseConnection connection)
    {
        bool? added;
        while ((added = For(connection.Tenant).Add(connection)) is null)
        {
            // The entry was retired by the removal of its last connection an instant ago: make sure it is gone, take a new one.
            RetireEntry(connection.Tenant);
        }

        if (added.Value)
        {
            Interlocked.Increment(ref _count);
            SignalChange();
        }

        return added.Value;
    }

    /// <summary>Forgets <paramref name="connection"/> and its interests; removing it twice is harmless.</summary>
    public bool Remove(SseConnection connection)
    {
        var removed = false;
        if (_tenants.TryGetValue(connection.Tenant, out var tenant))
        {
            (removed, var retired) = tenant.Remove(connection);
            if (retired)
            {
                _tenants.TryRemove(new KeyValuePair<string, TenantConnections>(connection.Tenant, tenant));
            }
        }

        if (removed)
        {
            Interlocked.Decrement(ref _count);
            SignalChange();
        }

        return removed;
    }

    /// <summary>Finds an open connection of this silo by id.</summary>
    public SseConnection? Find(string tenant, string connectionId) =>
        _tenants.TryGetValue(tenant, out var connections) ? connections.Find(connectionId) : null;

    /// <summary>The connections of <paramref name="tenant"/> at this instant.</summary>
    public SseConnection[] Snapshot(string tenant) =>
        _tenants.TryGetValue(tenant, out var connections) ? connections.Snapshot.All : [];

    /// <summary>
    /// The connections of <paramref name="tenant"/> at this instant, all of them and (the same ones) per writer shard.
    /// </summary>
    public ConnectionSnapshot Shards(string tenant) =>
        _tenants.TryGetValue(tenant, out var connections) ? connections.Snapshot : ConnectionSnapshot.Empty;

    /// <summary>
    /// The interest index of <paramref name="tenant"/>; an empty one, not kept, when the tenant has no connection here
    /// (asking never creates an entry, so a lookup cannot undo an eviction).
    /// </summary>
    public InterestIndex Index(string tenant) =>
        _tenants.TryGetValue(tenant, out var connections) ? connections.Index : new InterestIndex();

    /// <summary>Completes at the next registration or removal: lets tests and diagnostics wait instead of polling.</summary>
    public Task WhenChanged() => Volatile.Read(ref _changed).Task;

    private TenantConnections For(string tenant) => _tenants.GetOrAdd(tenant, static _ => new TenantConnections());

    private void RetireEntry(string tenant)
    {
        if (_tenants.TryGetValue(tenant, out var entry) && entry.Retired)
        {
            _tenants.TryRemove(new KeyValuePair<string, TenantConnections>(tenant, entry));
        }
    }

    private void SignalChange() => Interlocked.Exchange(ref _changed, NewSignal()).TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class TenantConnections
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<string, SseConnection> _byId = new(StringComparer.Ordinal);
        private ConnectionSnapshot _snapshot = ConnectionSnapshot.Empty;

        public ConnectionSnapshot Snapshot => Volatile.Read(ref _snapshot);

        public InterestIndex Index { get; } = new();

        /// <summary>Set under the lock when the last connection left: the entry takes no more connections.</summary>
        public bool Retired { get; private set; }

        /// <returns>Whether it was added; null when the entry is retired and the caller must use a new one.</returns>
        public bool? Add(SseConnection connection)
        {
            lock (_lock)
            {
                if (Retired)
                {
                    return null;
                }

                if (!_byId.TryAdd(connection.Id, connection))
                {
                    return false;
                }

                foreach (var interest in connection.Interests)
                {
                    Index.Add(connection, interest);
                }

                Volatile.Write(ref _snapshot, _snapshot.With(connection));
                return true;
            }
        }

        /// <returns>Whether it was removed, and whether that left the entry empty and retired.</returns>
        public (bool Removed, bool Retired) Remove(SseConnection connection)
        {
            lock (_lock)
            {
                if (!_byId.TryGetValue(connection.Id, out var current) || !ReferenceEquals(current, connection))
                {
                    return (false, false);
                }

                _byId.Remove(connection.Id);
                foreach (var interest in connection.Interests)
                {
                    Index.Remove(connection, interest);
                }

                var next = _snapshot.Without(connection);
                Volatile.Write(ref _snapshot, next);
                Retired = next.All.Length == 0;
                return (true, Retired);
            }
        }

        public SseConnection? Find(string id)
        {
            lock (_lock)
            {
                return _byId.GetValueOrDefault(id);
            }
        }
    }
}

/// <summary>One tenant's connections at an instant, immutable: all of them, and the same ones per writer shard.</summary>
internal sealed class ConnectionSnapshot
{
    private ConnectionSnapshot(SseConnection[] all, SseConnection[][] byShard)
    {
        All = all;
        ByShard = byShard;
    }

    /// <summary>No connections.</summary>
    public static ConnectionSnapshot Empty { get; } = new([], [.. Enumerable.Range(0, WriterShard.Count).Select(_ => Array.Empty<SseConnection>())]);

    /// <summary>Every connection, in the order they were added.</summary>
    public SseConnection[] All { get; }

    /// <summary>The connections written by each shard, indexed by <see cref="WriterShard.Index"/>.</summary>
    public SseConnection[][] ByShard { get; }

    /// <summary>Hands every writer shard that has connections here the frame in <paramref name="frames"/> for all of them.</summary>
    public void DeliverToAll(IWholeFrames frames)
    {
        for (var shard = 0; shard < ByShard.Length; shard++)
        {
            if (ByShard[shard].Length > 0)
            {
                WriterShard.At(shard).Deliver(new WholeEventDelivery(ByShard[shard], frames));
            }
        }
    }

    /// <summary>This snapshot plus <paramref name="connection"/>.</summary>
    public ConnectionSnapshot With(SseConnection connection)
    {
        var byShard = (SseConnection[][])ByShard.Clone();
        byShard[connection.ShardIndex] = [.. byShard[connection.ShardIndex], connection];
        return new ConnectionSnapshot([.. All, connection], byShard);
    }

    /// <summary>This snapshot without <paramref name="connection"/>, which it holds.</summary>
    public ConnectionSnapshot Without(SseConnection connection)
    {
        var byShard = (SseConnection[][])ByShard.Clone();
        byShard[connection.ShardIndex] = Remove(byShard[connection.ShardIndex], connection);
        return new ConnectionSnapshot(Remove(All, connection), byShard);
    }

    private static SseConnection[] Remove(SseConnection[] connections, SseConnection connection)
    {
        var index = Array.IndexOf(connections, connection);
        var next = new SseConnection[connections.Length - 1];
        Array.Copy(connections, 0, next, 0, index);
        Array.Copy(connections, index + 1, next, index, next.Length - index);
        return next;
    }
}
