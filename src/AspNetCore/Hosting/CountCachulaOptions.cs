namespace CountCachula.AspNetCore.Hosting;

/// <summary>
/// Options of the web frontend, bound from the <c>CountCachula</c> configuration section
/// (environment variables: <c>CountCachula__HeartbeatInterval=00:00:15</c>, ...).
/// </summary>
public sealed partial class CountCachulaOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "CountCachula";

    /// <summary>The tenant of connections and publishers that name none.</summary>
    public string DefaultTenant { get; set; } = CacheTenant.Default;

    /// <summary>
    /// How often every open stream gets <c>event: heartbeat</c> / <c>data: ping</c>, so proxies that close idle
    /// connections after 30–60 s keep them open.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The smallest reconnection delay (SSE <c>retry:</c>, ms) sent to a browser.</summary>
    public int RetryMilliseconds { get; set; } = 500;

    /// <summary>
    /// A random extra delay of up to this many ms is added to <see cref="RetryMilliseconds"/> per connection, so the
    /// clients of a silo that goes away do not all reconnect in the same instant.
    /// </summary>
    public int RetryJitterMilliseconds { get; set; } = 500;

    /// <summary>
    /// How many frames may wait for one connection's writer. When a client reads so slowly that this many pile up, they
    /// are coalesced: invalidations merged into one (a single <c>*</c> past 1,024 distinct tags), preload hints,
    /// custom events and heartbeats dropped. The client stays connected and memory stays bounded.
    /// </summary>
    public int ConnectionQueueCapacity { get; set; } = 1024;

    /// <summary>
    /// When true (the default), a stream served over plain HTTP/1.1 by Kestrel's socket transport with inline scheduling
    /// writes its events straight to its socket once Kestrel has sent the response head: one send per write, no output
    /// pipe in between, and Kestrel's minimum response data rate still lets go of a client that stops reading. Streams
    /// over TLS or HTTP/2, or behind a middleware that wraps the response body, are always written through Kestrel.
    /// </summary>
    public bool WriteToSocket { get; set; } = true;

    /// <summary>
    /// When true (the default), the streams written straight to their sockets (<see cref="WriteToSocket"/>) have their
    /// sends made in batches: a writer thread hands the kernel the sends of up to 64 streams in one system call
    /// (Linux io_uring) instead of one call each. Where io_uring is not offered (another OS, an old kernel,
    /// <c>kernel.io_uring_disabled</c>, a container's seccomp profile) each send is its own call, as when this is false;
    /// the diagnostics endpoint says which.
    /// </summary>
    public bool BatchSocketSends { get; set; } = true;

    /// <summary>
    /// When false (the default), the HTTP publishing endpoints answer only callers on the loopback interface: they
    /// are meant for backends on the same host until publisher credentials are configured.
    /// </summary>
    public bool AllowRemotePublishing { get; set; }

    /// <summary>
    /// Origins of pages on other hosts allowed to open the stream and call the API (CORS), e.g.
    /// <c>https://app.example.com</c>. Empty (the default) allows same-origin pages only. <c>Cache-Tags</c> is exposed
    /// to those pages, so <c>@countcachula/core</c> can read it cross-origin.
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>
    /// How long a frontend keeps a tenant's inbox subscription after the tenant's last connection here left, so a
    /// page that reconnects at once does not pay for subscribing again.
    /// </summary>
    public TimeSpan UnsubscribeGrace { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Who may subscribe and publish (<c>CountCachula:Auth</c>); on by default outside Development.</summary>
    public CountCachulaAuthOptions Auth { get; set; } = new();

    /// <summary>The tenants this hub serves; empty (the default) serves any well-formed tenant name a credential names.</summary>
    public string[] Tenants { get; set; } = [];

    /// <summary>Open streams one tenant may hold on this silo; beyond it a new one is refused with 429. 0 = no limit.</summary>
    public int MaxConnectionsPerTenant { get; set; } = 20_000;

    /// <summary>
    /// Open streams one client IP address may hold on this silo; beyond it a new one is refused with 429. 0 = no limit.
    /// Behind a proxy every client shares its address: raise it, or forward the real address (ForwardedHeaders).
    /// </summary>
    public int MaxConnectionsPerIp { get; set; } = 1_000;

    /// <summary>The largest request body the hub reads (publishing, interest changes); bigger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 512 * 1024;

    /// <summary>Who may read <c>/metrics</c> and how many tenants get their own metric label (<c>CountCachula:Metrics</c>).</summary>
    public CountCachulaMetricsOptions Metrics { get; set; } = new();

    /// <summary>Whether the sample items API and demo page are served (<c>CountCachula:Samples</c>); Development only by default.</summary>
    public CountCachulaSamplesOptions Samples { get; set; } = new();

    /// <summary>The operator dashboard's limits (<c>CountCachula:Dashboard</c>).</summary>
    public CountCachulaDashboardOptions Dashboard { get; set; } = new();

    /// <summary>
    /// Whether the <c>Cache-Tags</c> header of responses tagged with <c>.WithCacheTags(...)</c> or
    /// <c>HttpContext.AddCacheTags(...)</c> also lists <c>*</c> (the default). <c>@countcachula/core</c> has no wildcard
    /// of its own: only responses that list <c>*</c> are cleared when the hub sends <c>reset</c> and <c>invalidate *</c>.
    /// </summary>
    public bool CacheTagsIncludeAll { get; set; } = true;

    /// <summary>
    /// When true (off by default), every invalidation that reaches this silo first evicts this silo's ASP.NET Core
    /// output-cache entries with those tags (<c>AddOutputCache</c>), then tells the browsers, so their refetch is never
    /// served a stale server copy. The silo then listens to all events of every tenant it has tagged responses for.
    /// </summary>
    public bool EvictOutputCache { get; set; }
}
