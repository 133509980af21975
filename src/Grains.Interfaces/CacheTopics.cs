namespace CountCachula;

/// <summary>Names shared by the grains that route events and the listeners that receive them.</summary>
public static class CacheTopics
{
    /// <summary>The Orleans stream provider that carries cache events.</summary>
    public const string StreamProvider = "CountCachula";

    /// <summary>The grain storage that keeps hub state (history, schedules); in-memory unless the host configures one.</summary>
    public const string Storage = "CountCachulaStore";

    /// <summary>Stream namespace of the listeners' inboxes (stream key: <see cref="InboxKey"/>).</summary>
    public const string InboxNamespace = "countcachula-inbox";

    /// <summary>
    /// How many tag-topic grains share a tenant's tags. Publishers and listeners must agree on it, so it is a constant
    /// of the wire contract rather than a setting: a 1,000-tag connection registers with at most this many calls.
    /// </summary>
    public const int TopicShards = 32;

    /// <summary>The key of the inbox stream of <paramref name="listenerId"/> for <paramref name="tenant"/>.</summary>
    public static string InboxKey(string tenant, string listenerId) => string.Concat(tenant, "/", listenerId);

    /// <summary>The shard of <paramref name="tag"/>: a hash that is the same in every process and every run.</summary>
    public static int ShardOf(string tag)
    {
        // FNV-1a over the UTF-16 code units: string.GetHashCode is randomised per process.
        var hash = 2166136261u;
        foreach (var c in tag)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % TopicShards);
    }

    /// <summary>The key of the tag-topic grain of <paramref name="shard"/> in <paramref name="tenant"/>. Tenant ids never contain '/'.</summary>
    public static string ShardKey(string tenant, int shard) =>
        string.Concat(tenant, "/", shard.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The key of the tag-topic grain that owns <paramref name="tag"/> in <paramref name="tenant"/>.</summary>
    public static string TopicKeyFor(string tenant, string tag) => ShardKey(tenant, ShardOf(tag));
}
