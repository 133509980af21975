namespace CountCachula.WebFrontend.Streaming;

/// <summary>
/// The id this process listens under when it tells a topic to route events here. A process with a silo uses the silo's
/// address, so diagnostics line up with the cluster's view; an Orleans client (a web tier in front of a separate hub
/// cluster) has no silo, and uses an id unique to this process, since two processes must never share a listener.
/// </summary>
internal sealed class ListenerIdentity
{
    private ListenerIdentity(string id) => Id = id;

    /// <summary>The listener id, the same for the lifetime of the process.</summary>
    public string Id { get; }

    /// <summary>The silo's address when this process hosts a silo; otherwise a fresh client id.</summary>
    public static ListenerIdentity From(IServiceProvider services) => services.GetService<ILocalSiloDetails>() is { } silo
        ? new(silo.SiloAddress.ToParsableString())
        : new($"client/{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}");
}
