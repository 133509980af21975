using CountCachula.AspNetCore.Interests;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// What one tenant's local connections want of the cluster, reference-counted: each exact tag, the patterns (any
/// pattern, or <c>*</c>, needs every event), and the connections themselves (any connection needs the events addressed
/// to everyone). Not thread-safe: its <see cref="TenantListener"/>'s lock guards it.
/// </summary>
internal sealed class WantedInterests
{
    private readonly Dictionary<string, int> _tags = new(StringComparer.Ordinal);
    private int _patterns;
    private int _connections;
    private DateTime _idleSinceUtc = DateTime.UtcNow;

    /// <summary>The exact tags wanted now.</summary>
    public IEnumerable<string> Tags => _tags.Keys;

    /// <summary>How many distinct exact tags are wanted.</summary>
    public int TagCount => _tags.Count;

    /// <summary>True while a pattern (or <c>*</c>) is wanted: every event of the tenant is.</summary>
    public bool Everything => _patterns > 0;

    /// <summary>True while a connection is counted (readable without the lock).</summary>
    public bool AnyConnection => Volatile.Read(ref _connections) > 0;

    /// <summary>True when <paramref name="tag"/> is wanted.</summary>
    public bool Wants(string tag) => _tags.ContainsKey(tag);

    /// <summary>How many exact tags of <paramref name="interests"/> are not wanted yet.</summary>
    public int CountNew(IEnumerable<Interest> interests) =>
        interests.Count(i => i.Kind == InterestKind.Exact && !_tags.ContainsKey(i.Value));

    /// <summary>Counts <paramref name="interests"/>, and a connection when <paramref name="connection"/>.</summary>
    public void Add(bool connection, IEnumerable<Interest> interests)
    {
        if (connection)
        {
            Volatile.Write(ref _connections, _connections + 1);
        }

        foreach (var interest in interests)
        {
            if (interest.Kind == InterestKind.Exact)
            {
                _tags[interest.Value] = _tags.GetValueOrDefault(interest.Value) + 1;
            }
            else
            {
                _patterns++;
            }
        }
    }

    /// <summary>Stops counting what <see cref="Add"/> counted.</summary>
    /// <returns>True when something is no longer wanted at all (a tag, every event, or the last connection).</returns>
    public bool Remove(bool connection, IEnumerable<Interest> interests)
    {
        var unwanted = false;
        foreach (var interest in interests)
        {
            if (interest.Kind != InterestKind.Exact)
            {
                unwanted |= --_patterns == 0;
            }
            else if (_tags.TryGetValue(interest.Value, out var count))
            {
                if (count > 1)
                {
                    _tags[interest.Value] = count - 1;
                }
                else
                {
                    _tags.Remove(interest.Value);
                    unwanted = true;
                }
            }
        }

        if (connection)
        {
            Volatile.Write(ref _connections, _connections - 1);
            if (_connections == 0)
            {
                _idleSinceUtc = DateTime.UtcNow;
                unwanted = true;
            }
        }

        return unwanted;
    }

    /// <summary>True when nothing has been wanted since at least <paramref name="grace"/> before <paramref name="nowUtc"/>.</summary>
    public bool IdleFor(DateTime nowUtc, TimeSpan grace) =>
        _connections == 0 && _tags.Count == 0 && _patterns == 0 && nowUtc - _idleSinceUtc >= grace;
}
