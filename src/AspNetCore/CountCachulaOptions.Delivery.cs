namespace CountCachula.AspNetCore;

/// <summary>How this frontend receives its tenants' events and recovers what it may have missed.</summary>
public sealed partial class CountCachulaOptions
{
    /// <summary>
    /// How long a new stream (or an interest change) may wait for its subscriptions and registrations. Past it the
    /// stream is answered 200 with a short <c>retry:</c> and ended, so the browser comes back by itself, and an
    /// interest change gets 503 with <c>Retry-After</c>.
    /// </summary>
    public TimeSpan SubscribeTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The <c>retry:</c> (in whole milliseconds) sent when a stream ends because the cluster could not serve it right
    /// now. The configuration key <c>CountCachula:UnavailableRetryMilliseconds</c> of earlier versions still sets it when
    /// <c>CountCachula:UnavailableRetry</c> is absent.
    /// </summary>
    public TimeSpan UnavailableRetry { get; set; } = TimeSpan.FromMilliseconds(750);

    /// <summary>
    /// How often each tenant's inbox subscription is checked against the cluster's stream pub-sub (one call per tenant),
    /// so a rendezvous lost with its storage is noticed and re-established. <c>/health/ready</c> fails when checks have
    /// not succeeded for three intervals.
    /// </summary>
    public TimeSpan InboxCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How far back this frontend asks the hub's history after it may have missed events (a silo died, the hub moved,
    /// its inbox subscription was lost). It covers the time from the event to its detection.
    /// </summary>
    public TimeSpan RecoveryWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many distinct exact tags one tenant's connections may listen to on this frontend. Beyond it a new stream or
    /// interest change is refused with 429; it bounds the memory one tenant can take here and in the topic grains.
    /// </summary>
    public int MaxListenedTagsPerTenant { get; set; } = 50_000;
}
