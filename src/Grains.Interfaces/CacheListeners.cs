namespace CountCachula;

/// <summary>
/// Listener ids: who receives a tenant's events on an inbox stream. A silo's frontend is <c>silo-{address}</c>, so
/// the topic grains can drop it once membership declares that silo dead; any other listener (an Orleans client's web
/// tier) is <c>proc-{unique id}</c> and holds its registrations on a lease it renews.
/// </summary>
public static class CacheListeners
{
    /// <summary>The prefix of silo listener ids.</summary>
    public const string SiloPrefix = "silo-";

    /// <summary>The prefix of the ids of listeners that are not silos.</summary>
    public const string ProcessPrefix = "proc-";

    /// <summary>The listener id of the silo whose parsable address is <paramref name="siloAddress"/>.</summary>
    public static string ForSilo(SiloAddress siloAddress) => SiloPrefix + siloAddress.ToParsableString();

    /// <summary>A new listener id for a process that is not a silo.</summary>
    public static string ForProcess() => ProcessPrefix + Guid.NewGuid().ToString("N");

    /// <summary>The silo behind <paramref name="listenerId"/>, or null when it is not a silo listener.</summary>
    public static SiloAddress? SiloOf(string listenerId)
    {
        if (!listenerId.StartsWith(SiloPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            return SiloAddress.FromParsableString(listenerId[SiloPrefix.Length..]);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
