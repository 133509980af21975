using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// One OpenID Connect provider as the hub uses it: <c>CountCachula:Auth:Authority</c> (with the settings beside it) or
/// an entry of <c>CountCachula:Auth:Authorities</c> (with what it leaves unset taken from <c>CountCachula:Auth</c>).
/// </summary>
/// <param name="Scheme">The JwtBearer scheme that validates its tokens.</param>
/// <param name="Key">Where it is configured, for start-up errors: <c>Auth</c> or <c>Auth:Authorities:{i}</c>.</param>
/// <param name="Url">The provider's issuer URL, as configured.</param>
/// <param name="Audience">The <c>aud</c> its tokens must carry.</param>
/// <param name="Tenant">The tenant of all its tokens, or null to read <paramref name="TenantClaim"/>.</param>
/// <param name="TenantClaim">The claim naming a token's tenant.</param>
/// <param name="TagsClaim">The claim listing a token's tag patterns.</param>
/// <param name="TagsPrefix">The prefix of the entries of <paramref name="TagsClaim"/> that are tag patterns; empty for all.</param>
internal sealed record TokenAuthority(
    string Scheme,
    string Key,
    string Url,
    string? Audience,
    string? Tenant,
    string TenantClaim,
    string TagsClaim,
    string TagsPrefix);

/// <summary>
/// The token schemes and the configured providers: which scheme validates a given token, and each provider's metadata
/// (<see cref="AuthorityMetadata"/>, shared by every request).
/// </summary>
internal sealed class TokenAuthorities : IDisposable
{
    /// <summary>The JwtBearer scheme of tokens signed with <c>CountCachula:Auth:SigningKey</c>.</summary>
    public const string SigningKeyScheme = "CountCachula.SigningKey";

    private readonly HttpClient _http;
    private readonly Dictionary<string, (TokenAuthority Settings, AuthorityMetadata Metadata)> _byScheme = new(StringComparer.Ordinal);

    public TokenAuthorities(IOptions<CountCachulaOptions> options, ILoggerFactory loggers)
    {
        var auth = options.Value.Auth;
        Cookie = auth.Cookie;
        HasSigningKey = !string.IsNullOrEmpty(auth.SigningKey);
        All = Resolve(auth);
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromSeconds(10),
            MaxResponseContentBufferSize = 1024 * 1024,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("CountCachula");
        var documents = new HttpDocumentRetriever(_http) { RequireHttps = auth.RequireHttpsMetadata };
        var logger = loggers.CreateLogger("CountCachula.Auth");
        foreach (var authority in All)
        {
            _byScheme[authority.Scheme] = (authority, new AuthorityMetadata(authority.Url, documents, logger));
        }
    }

    /// <summary>The configured providers, <c>Auth:Authority</c> first.</summary>
    public IReadOnlyList<TokenAuthority> All { get; }

    /// <summary>Whether tokens signed with <c>Auth:SigningKey</c> are accepted.</summary>
    public bool HasSigningKey { get; }

    /// <summary>The cookie a browser may carry its token in.</summary>
    public string Cookie { get; }

    /// <summary>The scheme a challenge goes to (any of them answers one the same way).</summary>
    public string DefaultScheme => HasSigningKey || All.Count == 0 ? SigningKeyScheme : All[0].Scheme;

    /// <summary>The providers configured in <paramref name="auth"/>, with inherited settings filled in.</summary>
    public static IReadOnlyList<TokenAuthority> Resolve(CountCachulaAuthOptions auth)
    {
        var authorities = new List<TokenAuthority>();
        if (!string.IsNullOrEmpty(auth.Authority))
        {
            authorities.Add(new TokenAuthority(SchemeOf(0), "Auth", auth.Authority, auth.Audience, auth.Tenant, auth.TenantClaim, auth.TagsClaim, auth.TagsPrefix ?? ""));
        }

        for (var i = 0; i < auth.Authorities.Count; i++)
        {
            var entry = auth.Authorities[i];
            authorities.Add(new TokenAuthority(
                SchemeOf(i + 1),
                $"Auth:Authorities:{i}",
                entry.Authority,
                entry.Audience ?? auth.Audience,
                entry.Tenant,
                entry.TenantClaim ?? auth.TenantClaim,
                entry.TagsClaim ?? auth.TagsClaim,
                entry.TagsPrefix ?? auth.TagsPrefix ?? ""));
        }

        return authorities;
    }

    /// <summary>The provider validated by <paramref name="scheme"/>, or null for any other scheme.</summary>
    public (TokenAuthority Settings, AuthorityMetadata Metadata)? ForScheme(string? scheme) =>
        scheme is not null && _byScheme.TryGetValue(scheme, out var authority) ? authority : null;

    /// <summary>
    /// The scheme that validates <paramref name="token"/>, and its provider when it has one. A token goes to the
    /// provider whose issuer (as configured, or as its discovery document states) is the token's <c>iss</c>, so an
    /// HS256 token claiming to come from a provider is judged by that provider's rules and refused; any other HS256
    /// token to the signing key; anything else to the first provider, whose refusal then says what is wrong with it.
    /// Which scheme a token goes to decides only who checks it, never whether it is valid.
    /// </summary>
    public async Task<(string Scheme, AuthorityMetadata? Metadata, JsonWebToken? Token)> SelectAsync(string? token, CancellationToken cancel)
    {
        if (All.Count == 0)
        {
            return (SigningKeyScheme, null, null);
        }

        var jwt = Read(token);
        if (jwt is null)
        {
            return (DefaultScheme, null, null);
        }

        var issuer = jwt.Issuer;
        if (issuer.Length > 0)
        {
            foreach (var authority in All)
            {
                if (SameIssuer(authority.Url, issuer))
                {
                    return (authority.Scheme, _byScheme[authority.Scheme].Metadata, jwt);
                }
            }
        }

        if (HasSigningKey && jwt.Alg.StartsWith("HS", StringComparison.Ordinal))
        {
            return (SigningKeyScheme, null, jwt);
        }

        if (issuer.Length > 0)
        {
            // A provider's discovery document may name another issuer than the URL it is configured by (an internal
            // address, say); each provider's document is read once and kept.
            foreach (var authority in All)
            {
                var metadata = _byScheme[authority.Scheme].Metadata;
                try
                {
                    await metadata.GetConfigurationAsync(cancel);
                }
                catch (AuthorityUnavailableException)
                {
                    continue;
                }

                if (metadata.Issuer is { } known && string.Equals(known, issuer, StringComparison.Ordinal))
                {
                    return (authority.Scheme, metadata, jwt);
                }
            }
        }

        var first = All[0];
        return (first.Scheme, _byScheme[first.Scheme].Metadata, jwt);
    }

    /// <summary>
    /// The token a request carries, where the JwtBearer schemes read it: <c>Authorization: Bearer</c>, else the cookie,
    /// else <c>?access_token=</c> (EventSource cannot set headers).
    /// </summary>
    public static string? TokenOf(HttpRequest request, string cookie)
    {
        if (request.Headers.Authorization.Count > 0)
        {
            var header = request.Headers.Authorization.ToString();
            return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? NullIfEmpty(header["Bearer ".Length..].Trim()) : null;
        }

        var token = request.Cookies[cookie];
        if (!string.IsNullOrEmpty(token))
        {
            return token;
        }

        ClientQueryShape.Apply(request.HttpContext);
        return NullIfEmpty(request.Query["access_token"].ToString());
    }

    public void Dispose() => _http.Dispose();

    private static string SchemeOf(int index) => $"CountCachula.Authority.{index}";

    private static bool SameIssuer(string configured, string issuer) =>
        string.Equals(configured.TrimEnd('/'), issuer.TrimEnd('/'), StringComparison.Ordinal);

    private static JsonWebToken? Read(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        try
        {
            // Read only to route it; nothing in it is trusted until its scheme has validated it.
            return new JsonWebToken(token);
        }
        catch (Exception)
        {
            // Not a JWT: the scheme it goes to says so ("Invalid token").
            return null;
        }
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
