namespace CountCachula.AspNetCore;

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

    /// <summary>
    /// The smallest reconnection delay sent to a browser (SSE <c>retry:</c>, in whole milliseconds). The configuration
    /// key <c>CountCachula:RetryMilliseconds</c> of earlier versions still sets it when <c>CountCachula:Retry</c> is absent.
    /// </summary>
    public TimeSpan Retry { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// A random extra delay of up to this much is added to <see cref="Retry"/> per connection, so the clients of a silo
    /// that goes away do not all reconnect in the same instant. The configuration key
    /// <c>CountCachula:RetryJitterMilliseconds</c> of earlier versions still sets it when <c>CountCachula:RetryJitter</c>
    /// is absent.
    /// </summary>
    public TimeSpan RetryJitter { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// When this server stops, how long it takes to send its open streams elsewhere: each is ended with a short
    /// <c>retry:</c> at a moment spread over this window, so the other servers take the reconnects gradually rather than
    /// all at once. The process exits soon after (the silo then hands its grains over).
    /// </summary>
    public TimeSpan DrainWindow { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How many frames may wait for one connection's writer. When a client reads so slowly that this many pile up, they
    /// are coalesced: invalidations merged into one (a single <c>*</c> past 1,024 distinct tags), preload hints,
    /// custom events and heartbeats dropped. The client stays connected and memory stays bounded.
    /// </summary>
    public int ConnectionQueueCapacity { get; set; } = 1024;

    /// <summary>
    /// How many bytes of frames may wait for one connection's writer (1 MiB by default): past it they are coalesced as
    /// past <see cref="ConnectionQueueCapacity"/>. Frames are shared by every connection that receives the event, not
    /// copied per connection, so this bounds what one slow client can keep alive, not a copy it owns. The write in
    /// flight (what was pending when it began) comes on top.
    /// </summary>
    public long ConnectionQueueBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// How long a write to a stream may wait for its client to take it (its socket's buffer full, or Kestrel's output
    /// not flushed) before the stream is let go and its connection aborted, whatever the write's size: 5 s by default,
    /// Kestrel's grace period for its minimum response data rate (whose rule still applies when it is stricter). The
    /// browser reconnects and resumes from its <c>Last-Event-ID</c>.
    /// </summary>
    public TimeSpan SlowReaderGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// When true (the default), once a flood of big events is over (at least 64 MiB of frames of 16 KiB or more were
    /// written, then none for 5 s) the process runs one full, compacting garbage collection, large objects included, and
    /// gives the freed memory back to the operating system; at most once every 30 s. Without it the garbage such events
    /// leave behind stays resident until the next full collection, which an idle process may never run.
    /// </summary>
    public bool CompactAfterBigEvents { get; set; } = true;

    /// <summary>
    /// When true (the default), a stream served over plain HTTP/1.1 by Kestrel's socket transport with inline scheduling
    /// writes its events straight to its socket once Kestrel has sent the response head: one send per write, no output
    /// pipe in between, and a client that stops reading is still let go (<see cref="SlowReaderGrace"/>). Streams
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

    /// <summary>
    /// Open streams one credential may hold on this silo; beyond it a new one is refused with 429. A credential is a
    /// token's subject (<c>sub</c>, within its issuer), or the token itself when it names none. A user's tabs share it;
    /// a token handed to many browsers at once (one for every visitor of a public page) needs this raised. 0 = no limit.
    /// </summary>
    public int MaxConnectionsPerCredential { get; set; } = 100;

    /// <summary>
    /// Distinct tags and patterns one credential's streams may listen to on this silo; beyond it a new stream or an
    /// added interest is refused with 429. It keeps one credential from spending its tenant's
    /// <see cref="MaxListenedTagsPerTenant"/>. 0 = no limit.
    /// </summary>
    public int MaxListenedTagsPerCredential { get; set; } = 5_000;

    /// <summary>The largest request body the hub reads (publishing, interest changes); bigger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 512 * 1024;

    /// <summary>
    /// The most bytes of UTF-8 a custom event's data may have when it is published here (<c>POST /api/cache/broadcast</c>
    /// or <c>ICacheHub.BroadcastAsync</c>); a bigger one is refused with 413 and a ProblemDetails naming this setting,
    /// before it reaches the hub (which has its own cap, <c>CountCachula:Hub:MaxCustomEventBytes</c>, with the same
    /// default). Each line of the data also costs a <c>data: </c> prefix on the wire, so an event of line breaks takes up
    /// to 7 times its size there. 64 KiB by default, at most 1 MiB.
    /// </summary>
    public int MaxCustomEventBytes { get; set; } = CustomEvents.DefaultMaxDataBytes;

    /// <summary>Who may read <c>/metrics</c> and how many tenants get their own metric label (<c>CountCachula:Metrics</c>).</summary>
    public CountCachulaMetricsOptions Metrics { get; set; } = new();

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

    /// <summary>
    /// Reads the millisecond keys of earlier versions (<c>RetryMilliseconds</c>, <c>RetryJitterMilliseconds</c>,
    /// <c>UnavailableRetryMilliseconds</c>) into their <see cref="TimeSpan"/> options, where the new key is not set.
    /// A value that is not a whole number is left for the validator to name.
    /// </summary>
    internal static void BindMillisecondKeys(CountCachulaOptions options, IConfiguration configuration)
    {
        var section = configuration.GetSection(SectionName);
        Read(nameof(Retry), "RetryMilliseconds", value => options.Retry = value);
        Read(nameof(RetryJitter), "RetryJitterMilliseconds", value => options.RetryJitter = value);
        Read(nameof(UnavailableRetry), "UnavailableRetryMilliseconds", value => options.UnavailableRetry = value);

        void Read(string key, string millisecondsKey, Action<TimeSpan> set)
        {
            if (section[key] is null && section[millisecondsKey] is { } text)
            {
                set(int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var ms)
                    ? TimeSpan.FromMilliseconds(ms)
                    : TimeSpan.MinValue);
            }
        }
    }
}
