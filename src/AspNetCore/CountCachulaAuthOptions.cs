namespace CountCachula.AspNetCore;

/// <summary>Who may subscribe and publish: <c>CountCachula:Auth</c>.</summary>
public sealed class CountCachulaAuthOptions
{
    /// <summary>
    /// Whether subscribers and publishers must present credentials. Unset means on everywhere except the Development
    /// environment, where the demo page and the README's curl examples work without any set-up.
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>
    /// The HMAC-SHA256 key the hub's own tokens are signed with (at least 32 bytes of UTF-8; <c>mint-token</c> and
    /// <c>CountCachulaAccess.MintToken</c> sign with it). With auth on, this or an <see cref="Authority"/> is required.
    /// </summary>
    public string? SigningKey { get; set; }

    /// <summary>When set, tokens signed with <see cref="SigningKey"/> must carry this <c>iss</c>.</summary>
    public string? Issuer { get; set; }

    /// <summary>
    /// When set, tokens must carry this <c>aud</c>: those signed with <see cref="SigningKey"/>, and those of every
    /// OpenID Connect provider that names no audience of its own. Required with an <see cref="Authority"/>.
    /// </summary>
    public string? Audience { get; set; }

    /// <summary>The cookie a browser may carry its token in (EventSource cannot set headers).</summary>
    public string Cookie { get; set; } = "countcachula_token";

    /// <summary>Publisher API keys, each for one tenant: sent as <c>X-Api-Key</c> to <c>POST /api/cache/*</c>.</summary>
    public List<CountCachulaApiKey> ApiKeys { get; set; } = [];

    /// <summary>
    /// An OpenID Connect provider whose tokens are accepted (RS256, ES256 and the other RSA and ECDSA algorithms), e.g.
    /// <c>https://keycloak.example.com/realms/acme</c>: its keys are read from
    /// <c>{Authority}/.well-known/openid-configuration</c> and the <c>jwks_uri</c> it names, again every hour, and at
    /// once (at most every 30 s) when a token names a key the hub does not hold yet (a rotation). Tokens must carry the
    /// <c>iss</c> that document states and <see cref="Audience"/>.
    /// </summary>
    public string? Authority { get; set; }

    /// <summary>
    /// Whether the providers' metadata and keys must be fetched over https. Set false only for a provider on plain
    /// http in development or tests.
    /// </summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>
    /// The tenant of every token from <see cref="Authority"/>, whatever the token says (a provider per tenant). Unset
    /// means the tenant is read from <see cref="TenantClaim"/>.
    /// </summary>
    public string? Tenant { get; set; }

    /// <summary>
    /// The claim of a provider's token that names its tenant when the provider has no <see cref="Tenant"/> of its
    /// own (e.g. <c>tenant</c>, <c>org</c>, or Entra ID's <c>tid</c>). The default for every provider.
    /// </summary>
    public string TenantClaim { get; set; } = "tenant";

    /// <summary>
    /// The claim of a provider's token that lists the tag patterns it may listen to: patterns separated by spaces or
    /// commas, a JSON array, or the claim repeated (e.g. <c>tags</c>, <c>roles</c>, or <c>scope</c> with a
    /// <see cref="TagsPrefix"/>). The default for every provider.
    /// </summary>
    public string TagsClaim { get; set; } = "tags";

    /// <summary>
    /// When set, only the entries of <see cref="TagsClaim"/> that start with this prefix are tag patterns, read without
    /// it: with <c>cache:</c>, <c>scope: "openid cache:orders:* cache:users:1"</c> grants <c>orders:*</c> and
    /// <c>users:1</c>, and <c>openid</c> grants nothing. The default for every provider.
    /// </summary>
    public string? TagsPrefix { get; set; }

    /// <summary>
    /// More OpenID Connect providers, each with its own audience, tenant and claims where it sets them (unset means the
    /// same as the setting of that name here). A token goes to the provider whose issuer its <c>iss</c> names.
    /// </summary>
    public List<CountCachulaAuthority> Authorities { get; set; } = [];

    /// <summary>True when credentials are required (after the environment default is applied).</summary>
    public bool IsEnabled => Enabled ?? true;
}

/// <summary>An API key that lets a backend publish for one tenant.</summary>
public sealed class CountCachulaApiKey
{
    /// <summary>The secret the backend sends as <c>X-Api-Key</c>.</summary>
    public string Key { get; set; } = "";

    /// <summary>The tenant it publishes to.</summary>
    public string Tenant { get; set; } = "";
}

/// <summary>
/// One more OpenID Connect provider (<c>CountCachula:Auth:Authorities:{i}</c>); what it leaves unset is taken from
/// <c>CountCachula:Auth</c>.
/// </summary>
public sealed class CountCachulaAuthority
{
    /// <summary>The provider's issuer URL; its metadata is read from <c>{Authority}/.well-known/openid-configuration</c>.</summary>
    public string Authority { get; set; } = "";

    /// <summary>The <c>aud</c> its tokens must carry; unset means <c>CountCachula:Auth:Audience</c>.</summary>
    public string? Audience { get; set; }

    /// <summary>The tenant of every token it issues; unset means the tenant is read from the tenant claim.</summary>
    public string? Tenant { get; set; }

    /// <summary>The claim naming the tenant; unset means <c>CountCachula:Auth:TenantClaim</c>.</summary>
    public string? TenantClaim { get; set; }

    /// <summary>The claim listing the tag patterns; unset means <c>CountCachula:Auth:TagsClaim</c>.</summary>
    public string? TagsClaim { get; set; }

    /// <summary>The prefix of the entries of the tags claim that are tag patterns; unset means <c>CountCachula:Auth:TagsPrefix</c>.</summary>
    public string? TagsPrefix { get; set; }
}
