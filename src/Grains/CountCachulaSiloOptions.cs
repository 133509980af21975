namespace CountCachula.Grains;

/// <summary>How a silo hosts Count Cachula's grains and streams.</summary>
public sealed class CountCachulaSiloOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "CountCachula:Hub";

    /// <summary>
    /// How soon a stream pulling agent starts reading its queue again after it stopped (a read failed, its cache was
    /// full, it was just started). Events do not wait for it: the agent's read waits in the queue grain and returns
    /// the moment an event is appended. An idle tick costs about as little at 10 ms as at 100 ms, so it is kept short
    /// for the cases where reading did stop.
    /// </summary>
    public TimeSpan StreamPollInterval { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// How many queues carry the streams, each read by one pulling agent (spread over the silos). A waiting read
    /// costs nothing while idle, so more queues only spread the agents' delivery work; one is enough for one silo.
    /// </summary>
    public int StreamQueueCount { get; set; } = 1;

    /// <summary>How many events of each tenant are kept for replay (at least; whole segments are dropped).</summary>
    public int HistoryMaxEvents { get; set; } = 10_000;

    /// <summary>
    /// The most bytes of UTF-8 a custom event's data may have (<c>CountCachula:Hub:MaxCustomEventBytes</c>); a publish
    /// over it fails with <see cref="ArgumentException"/> naming this setting. Every stream that receives the event, and
    /// the history, hold it whole: 64 KiB by default, at most 1 MiB.
    /// </summary>
    public int MaxCustomEventBytes { get; set; } = CustomEvents.DefaultMaxDataBytes;

    /// <summary>How long events are kept for replay.</summary>
    public TimeSpan HistoryMaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// The most bytes of events each tenant keeps for replay (estimated from their tags, routes and data; whole
    /// segments are dropped, oldest first). With the count cap alone, 10,000 events of 1,000 long tags held gigabytes.
    /// </summary>
    public long HistoryMaxBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// How long a publish's idempotency key is remembered: a retry with the same key within it publishes nothing new.
    /// Keys travel with the recorded events, so the window survives the hub moving to another silo.
    /// </summary>
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The most idempotency keys remembered per tenant (the oldest are forgotten first).</summary>
    public int IdempotencyMaxKeys { get; set; } = 10_000;

    /// <summary>
    /// How long the hub waits for the topic grains to take an event before it moves on to the next one. Routing that
    /// takes longer (a topic grain on a silo that just died) is logged; the event is already in the history, and the
    /// listeners recover it from there once membership tells them the silo is gone.
    /// </summary>
    public TimeSpan RouteTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// When a hub activates, the events it finds recorded within this span are routed again: the activation before it
    /// may have recorded them without routing them (storage answered late, or its silo died in between). Zero: off.
    /// </summary>
    public TimeSpan RerouteOnActivation { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a tenant's hub, broadcast and tag-topic grains stay in memory once nothing calls them (nobody listens
    /// and nobody publishes), instead of Orleans' 15 minutes: a silo that served 20,000 short-lived tenants gives their
    /// memory back within minutes. Listened topics stay active whatever this says; everything a grain needs again is
    /// in its storage. More than one minute (Orleans collects idle grains once a minute and needs a longer age).
    /// </summary>
    public TimeSpan IdleGrainCollectionAge { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long a listener that is not a silo (an Orleans client's web tier) stays registered with the topic grains
    /// without registering again; such listeners renew well within it. Silo listeners follow membership instead.
    /// </summary>
    public TimeSpan ClientListenerLease { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Events per stored history segment: the unit of each storage write and of trimming. Every event rewrites its
    /// segment, so a publish costs O(segment) serialization: 64 keeps that small (500 made 8 KB events publish-bound).
    /// </summary>
    public int HistorySegmentSize { get; set; } = 64;

    /// <summary>
    /// Tenants whose invalidations are debounced with <see cref="DefaultDebounceWindow"/> (<c>*</c>: every tenant):
    /// invalidations within one window are sent as one event with the union of their tags. Off for everyone by default.
    /// </summary>
    public HashSet<string> DebouncedTenants { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The debounce window of a debounced tenant: 100 ms unless set.</summary>
    public TimeSpan DefaultDebounceWindow { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Per-tenant debounce windows, for tenants that need a window other than the default.</summary>
    public Dictionary<string, TimeSpan> DebounceWindows { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The debounce window of <paramref name="tenant"/>; zero when its invalidations are sent at once.</summary>
    public TimeSpan DebounceWindowFor(string tenant) =>
        DebounceWindows.TryGetValue(tenant, out var window) ? window
        : DebouncedTenants.Contains(tenant) || DebouncedTenants.Contains("*") ? DefaultDebounceWindow
        : TimeSpan.Zero;
}
