namespace CountCachula;

/// <summary>
/// Tags a grain method adds while it runs, published with the ones it declares when the call completes successfully.
/// Usable only inside a call of a method marked <see cref="InvalidatesCacheTagsAttribute"/> (with or without
/// templates), on a silo with <c>AddCountCachula()</c>.
/// </summary>
/// <example>
/// <code>
/// [InvalidatesCacheTags("order:{key}")]
/// public Task AddLine(string sku) { ...; CacheInvalidation.Add($"product:{sku}:stock"); return Task.CompletedTask; }
/// </code>
/// </example>
public static class CacheInvalidation
{
    private static readonly AsyncLocal<Scope?> Current = new();

    /// <summary>Adds <paramref name="tags"/> to the invalidation the current grain call publishes when it succeeds.</summary>
    /// <exception cref="ArgumentException">A tag breaks the rules of <see cref="CacheInput"/>.</exception>
    /// <exception cref="InvalidOperationException">Not inside a call of a method marked <see cref="InvalidatesCacheTagsAttribute"/>, or the call already ended.</exception>
    public static void Add(params string[] tags)
    {
        CacheInput.ThrowIfInvalid(tags, "tags");
        var scope = Current.Value ?? throw new InvalidOperationException(
            "CacheInvalidation.Add works only inside a grain call of a method marked [InvalidatesCacheTags] on a silo with AddCountCachula().");
        scope.Add(tags);
    }

    /// <summary>Opens the scope of one declared call, for the call filter.</summary>
    internal static Scope Begin() => Begin(default, null);

    /// <summary>
    /// Opens the scope of one declared call of <paramref name="grain"/>; <paramref name="bind"/> gives the call's
    /// tags (its bound templates, then the given added ones), so an outbox write during the call can take them.
    /// </summary>
    internal static Scope Begin(GrainId grain, Func<IReadOnlyList<string>, string[]>? bind)
    {
        var scope = new Scope(grain, bind);
        Current.Value = scope;
        return scope;
    }

    /// <summary>
    /// For <see cref="CacheOutboxWriter{TState}"/>: the tags of the current declared call of <paramref name="grain"/>
    /// (bound templates and the ones added so far), which from now on are the outbox's to publish; null outside such
    /// a call. Tags added after this are published by the call filter, as usual.
    /// </summary>
    internal static Scope? TakeForOutbox(GrainId grain, out string[] tags)
    {
        tags = [];
        return Current.Value is { } scope && scope.Grain.Equals(grain) && scope.TakeForOutbox(out tags) ? scope : null;
    }

    /// <summary>The open scope of the current declared call of <paramref name="grain"/>, if any.</summary>
    internal static Scope? CurrentOf(GrainId grain) => Current.Value is { } scope && scope.Grain.Equals(grain) ? scope : null;

    /// <summary>Closes the current scope: later adds (from work the call left running) fail instead of being lost silently.</summary>
    internal static void End(Scope scope)
    {
        scope.Close();
        Current.Value = null;
    }

    /// <summary>The tags one call added.</summary>
    internal sealed class Scope(GrainId grain = default, Func<IReadOnlyList<string>, string[]>? bind = null)
    {
        private readonly Lock _lock = new();
        private List<string>? _tags;
        private bool _closed;

        public GrainId Grain { get; } = grain;

        /// <summary>True once an outbox write took the declared tags: the filter publishes only tags added after.</summary>
        public bool TakenByOutbox { get; private set; }

        /// <summary>The event id of the outbox's publish during the call (0: none).</summary>
        public long OutboxEventId { get; set; }

        /// <summary>True when the outbox's invalidation of the call is still owed (its publish failed): the call's
        /// result then carries no id, since a client waiting for it would refetch before the invalidation.</summary>
        public bool OutboxOwes { get; set; }

        public bool TakeForOutbox(out string[] tags)
        {
            lock (_lock)
            {
                tags = [];
                if (_closed || bind is null)
                {
                    return false;
                }

                tags = TakenByOutbox ? [.. _tags ?? []] : bind(_tags ?? []);
                TakenByOutbox = true;
                _tags = null;
                return true;
            }
        }

        public IReadOnlyList<string> Tags
        {
            get
            {
                lock (_lock)
                {
                    return _tags is null ? [] : [.. _tags];
                }
            }
        }

        public void Add(string[] tags)
        {
            lock (_lock)
            {
                if (_closed)
                {
                    throw new InvalidOperationException("CacheInvalidation.Add was called after its grain call completed; add tags before the call returns.");
                }

                (_tags ??= []).AddRange(tags);
            }
        }

        public void Close()
        {
            lock (_lock)
            {
                _closed = true;
            }
        }
    }
}
