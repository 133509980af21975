using System.Collections.Concurrent;

namespace CountCachula.WebFrontend.Connections;

/// <summary>
/// The SSE connections this silo holds, per tenant. Readers get an immutable snapshot array without locking or
/// allocating; adding or removing a connection replaces that tenant's array.
/// </summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, TenantConnections> _tenants = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = NewSignal();
    private int _count;

    /// <summary>How many connections this silo holds, all tenants together.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>How many connections this silo holds for <paramref name="tenant"/>.</summary>
    public int CountFor(string tenant) => Snapshot(tenant).Length;

    /// <summary>The tenants that have, or had, connections here.</summary>
    public ICollection<string> Tenants => _tenants.Keys;

    /// <summary>Registers <paramref name="connection"/>. Registering the same connection id again changes nothing.</summary>
    /// <returns>False when a connection with that id was already registered.</returns>
    public bool Add(SseConnection connection)
    {
        var added = _tenants.GetOrAdd(connection.Tenant, static _ => new TenantConnections()).Add(connection);
        if (added)
        {
            Interlocked.Increment(ref _count);
            SignalChange();
        }

        return added;
    }

    /// <summary>Forgets <paramref name="connection"/>; removing it twice is harmless.</summary>
    public bool Remove(SseConnection connection)
    {
        var removed = _tenants.TryGetValue(connection.Tenant, out var tenant) && tenant.Remove(connection);
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
        _tenants.TryGetValue(tenant, out var connections) ? connections.Snapshot : [];

    /// <summary>Completes at the next registration or removal: lets tests and diagnostics wait instead of polling.</summary>
    public Task WhenChanged() => Volatile.Read(ref _changed).Task;

    private void SignalChange() => Interlocked.Exchange(ref _changed, NewSignal()).TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class TenantConnections
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<string, SseConnection> _byId = new(StringComparer.Ordinal);

        private SseConnection[] _snapshot = [];

        public SseConnection[] Snapshot => Volatile.Read(ref _snapshot);

        public bool Add(SseConnection connection)
        {
            lock (_lock)
            {
                if (!_byId.TryAdd(connection.Id, connection))
                {
                    return false;
                }

                Volatile.Write(ref _snapshot, [.. _snapshot, connection]);
                return true;
            }
        }

        public bool Remove(SseConnection connection)
        {
            lock (_lock)
            {
                if (!_byId.TryGetValue(connection.Id, out var current) || !ReferenceEquals(current, connection))
                {
                    return false;
                }

                _byId.Remove(connection.Id);
                var index = Array.IndexOf(_snapshot, connection);
                var next = new SseConnection[_snapshot.Length - 1];
                Array.Copy(_snapshot, 0, next, 0, index);
                Array.Copy(_snapshot, index + 1, next, index, next.Length - index);
                Volatile.Write(ref _snapshot, next);
                return true;
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
