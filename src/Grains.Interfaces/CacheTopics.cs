namespace CountCachula;

/// <summary>Names shared by the grains that publish onto streams and the silos that subscribe to them.</summary>
public static class CacheTopics
{
    /// <summary>The Orleans stream provider that carries cache events.</summary>
    public const string StreamProvider = "CountCachula";

    /// <summary>The grain storage that keeps hub state (schedules); in-memory unless the host configures one.</summary>
    public const string Storage = "CountCachulaStore";

    /// <summary>Stream namespace of the per-tenant broadcast streams (stream key: the tenant).</summary>
    public const string BroadcastNamespace = "countcachula-broadcast";

    /// <summary>Stream namespace of the per-tenant streams of events for everyone (stream key: the tenant).</summary>
    public const string NoticeNamespace = "countcachula-notice";

    /// <summary>Stream namespace of the per-tenant, per-tag streams (stream key: <see cref="TagKey"/>).</summary>
    public const string TagNamespace = "countcachula-tag";

    /// <summary>The key of a tag's topic grain and stream. Tenant ids never contain '/', so the key is unambiguous.</summary>
    public static string TagKey(string tenant, string tag) => string.Concat(tenant, "/", tag);

}
