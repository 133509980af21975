namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// Who this frontend is to the topic grains: its silo (<c>silo-{address}</c>) when a silo is co-hosted, so the
/// grains drop it once membership declares that silo dead; otherwise a unique id per process (<c>proc-{guid}</c>),
/// whose registrations the grains keep on a lease that this frontend renews.
/// </summary>
internal sealed class ListenerIdentity
{
    private ListenerIdentity(string id, bool isSilo)
    {
        Id = id;
        IsSilo = isSilo;
    }

    /// <summary>The listener id.</summary>
    public string Id { get; }

    /// <summary>True when the id names a silo (membership decides when it is gone).</summary>
    public bool IsSilo { get; }

    /// <summary>The identity of the process behind <paramref name="services"/>.</summary>
    public static ListenerIdentity From(IServiceProvider services) => services.GetService<ILocalSiloDetails>() is { } silo
        ? new ListenerIdentity(CacheListeners.ForSilo(silo.SiloAddress), isSilo: true)
        : new ListenerIdentity(CacheListeners.ForProcess(), isSilo: false);
}
