using System.Collections.Concurrent;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// The SSE connections this silo holds, per tenant, with each tenant's interest index.
/// Readers get an immutable snapshot array without locking or allocating; adding or removing a connection replaces
/// that tenant's array. Tenants never share an index, so tags are never compared across tenants. A tenant's entry
/// and index are dropped when its last connection leaves, so memory follows the tenants connected now, not every
/// tenant ever seen.
/// </summary>
/// <param name="shards">The writer shards that write the connections registered here.</param>
internal sealed class ConnectionRegistry(WriterShards shards)
{
    private readonly ConcurrentDictionary<string, TenantConnections> _tenants = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = NewSignal();
    private int _count;

    /// <summary>The writer shards that write the connections registered here.</summary>
    public WriterShards WriterShards => shards;

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

    /// <summary>How many connections <paramref name="tenant"/> has here at this instant.</summary>
    public int CountOf(string tenant) => _tenants.TryGetValue(tenant, out var connections) ? connections.Count : 0;

    /// <summary>The connections of <paramref name="tenant"/> at this instant.</summary>
    public SseConnection[] Snapshot(string tenant) =>
        _tenants.TryGetValue(tenant, out var connections) ? connections.Snapshot.All : [];

    /// <summary>
    /// The connections of <paramref name="tenant"/> at this instant, all of them and (the same ones) per writer shard.
    /// </summary>
    public ConnectionSnapshot Shards(string tenant) =>
        _tenants.TryGetValue(tenant, out var connections) ? connections.Snapshot : shards.NoConnections;

    /// <summary>
    /// The interest index of <paramref name="tenant"/>; an empty one, not kept, when the tenant has no connection here
    /// (asking never creates an entry, so a lookup cannot undo an eviction).
    /// </summary>
    public InterestIndex Index(string tenant) =>
        _tenants.TryGetValue(tenant, out var connections) ? connections.Index : new InterestIndex();

    /// <summary>Completes at the next registration or removal: lets tests and diagnostics wait instead of polling.</summary>
    public Task WhenChanged() => Volatile.Read(ref _changed).Task;

    private TenantConnections For(string tenant) => _tenants.GetOrAdd(tenant, static (_, shards) => new TenantConnections(shards), shards);

    private void RetireEntry(string tenant)
    {
        if (_tenants.TryGetValue(tenant, out var entry) && entry.Retired)
        {
            _tenants.TryRemove(new KeyValuePair<string, TenantConnections>(tenant, entry));
        }
    }

    private void SignalChange() => Interlocked.Exchange(ref _changed, NewSignal()).TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class TenantConnections(WriterShards shards)
    {
        private readonly Lock _lock = new();

        // Where each connection sits in _slots. A removal leaves a hole (null) there, so adding and removing cost O(1)
        // (copying the whole array on every change made opening N streams O(N²) in copies and in large-object-heap
        // garbage); the holes are squeezed out once they outnumber the connections.
        private readonly Dictionary<string, int> _slotById = new(StringComparer.Ordinal);
        private readonly List<SseConnection?> _slots = [];
        private ConnectionSnapshot? _snapshot = shards.NoConnections;
        private int _count;

        /// <summary>
        /// Built by the first reader after a change (a delivery already costs O(connections), so does its snapshot)
        /// and shared by every reader until the next change.
        /// </summary>
        public ConnectionSnapshot Snapshot => Volatile.Read(ref _snapshot) ?? Build();

        /// <summary>How many connections the entry holds (read without the lock).</summary>
        public int Count => Volatile.Read(ref _count);

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

                if (!_slotById.TryAdd(connection.Id, _slots.Count))
                {
                    return false;
                }

                _slots.Add(connection);
                Volatile.Write(ref _count, _slotById.Count);
                foreach (var interest in connection.Interests)
                {
                    Index.Add(connection, interest);
                }

                Volatile.Write(ref _snapshot, null);
                return true;
            }
        }

        /// <returns>Whether it was removed, and whether that left the entry empty and retired.</returns>
        public (bool Removed, bool Retired) Remove(SseConnection connection)
        {
            lock (_lock)
            {
                if (!_slotById.TryGetValue(connection.Id, out var slot) || !ReferenceEquals(_slots[slot], connection))
                {
                    return (false, false);
                }

                _slotById.Remove(connection.Id);
                _slots[slot] = null;
                Volatile.Write(ref _count, _slotById.Count);
                foreach (var interest in connection.Interests)
                {
                    Index.Remove(connection, interest);
                }

                if (_slotById.Count == 0)
                {
                    _slots.Clear();
                }
                else if (_slots.Count - _slotById.Count > Math.Max(64, _slotById.Count))
                {
                    Compact();
                }

                Volatile.Write(ref _snapshot, null);
                Retired = _slotById.Count == 0;
                return (true, Retired);
            }
        }

        public SseConnection? Find(string id)
        {
            lock (_lock)
            {
                return _slotById.TryGetValue(id, out var slot) ? _slots[slot] : null;
            }
        }

        private ConnectionSnapshot Build()
        {
            lock (_lock)
            {
                if (_snapshot is { } current)
                {
                    return current;
                }

                var built = ConnectionSnapshot.Of(_slots, _slotById.Count, shards);
                Volatile.Write(ref _snapshot, built);
                return built;
            }
        }

        private void Compact()
        {
            var kept = 0;
            for (var i = 0; i < _slots.Count; i++)
            {
                if (_slots[i] is { } connection)
                {
                    _slots[kept] = connection;
                    _slotById[connection.Id] = kept++;
                }
            }

            _slots.RemoveRange(kept, _slots.Count - kept);
        }
    }
}
