namespace CountCachula.Grains;

/// <summary>Tags gathered during one debounce window: their union, each once, in first-seen order.</summary>
internal sealed class DebounceBuffer
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly List<string> _ordered = [];

    public bool IsEmpty => _ordered.Count == 0;

    public void Add(IReadOnlyList<string> tags)
    {
        foreach (var tag in tags)
        {
            if (_seen.Add(tag))
            {
                _ordered.Add(tag);
            }
        }
    }

    /// <summary>Returns the gathered tags and starts a new window.</summary>
    public string[] Drain()
    {
        string[] tags = [.. _ordered];
        _seen.Clear();
        _ordered.Clear();
        return tags;
    }
}
