using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Security;

namespace CountCachula.AspNetCore.Delivery;

// Whom a stream serves and what it listens for: its grant, its secret and its interests. None of it is read on the
// write path.
internal sealed partial class SseConnection
{
    private readonly CallerGrant? _grant;

    /// <summary>The tenant whose events the connection receives.</summary>
    public string Tenant { get; }

    /// <summary>
    /// What the credential that opened the stream allowed, captured then: interest changes never widen beyond it, whoever
    /// asks. Null for connections made outside an HTTP request (tests), which nothing can change.
    /// </summary>
    public CallerGrant? Grant
    {
        get => _grant;
        init
        {
            _grant = value;
            GrantsAll = value is null || value.Patterns.Contains(Interest.All);
        }
    }

    /// <summary>
    /// True when the stream's credential was granted every tag of its tenant (<c>*</c>, as every stream is with auth
    /// off): only such streams receive hints and custom events that name no scope (<see cref="CacheEvent.ForFullGrantsOnly"/>).
    /// </summary>
    public bool GrantsAll { get; private init; } = true;

    /// <summary>The stream's secret, handed to its page in <c>connected</c>; an interest change must present it.</summary>
    public string StreamKey { get; init; } = "";

    /// <summary>
    /// What the connection listens for. Changed only under <see cref="InterestGate"/> by the interest endpoint,
    /// which keeps the interest index and the silo's stream subscriptions in step.
    /// </summary>
    public HashSet<Interest> Interests { get; }

    /// <summary>Serializes changes to <see cref="Interests"/> with each other and with the connection's removal.</summary>
    internal SemaphoreSlim InterestGate { get; } = new(1, 1);

    /// <summary>True once the connection left the registry; its interests may no longer change.</summary>
    internal bool Closed { get; set; }
}
