using System.IdentityModel.Tokens.Jwt;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using CountCachula.WebFrontend.Interests;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace CountCachula.WebFrontend.Hosting;

/// <summary>Who may subscribe and publish: <c>CountCachula:Auth</c>.</summary>
public sealed class CountCachulaAuthOptions
{
    /// <summary>
    /// Whether subscribers and publishers must present credentials. Unset means on everywhere except the Development
    /// environment, where the demo page and the README's curl examples work without any set-up.
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>The HMAC-SHA256 key tokens are signed with (at least 32 bytes of UTF-8). Required when auth is on.</summary>
    public string? SigningKey { get; set; }

    /// <summary>When set, tokens must carry this <c>iss</c>.</summary>
    public string? Issuer { get; set; }

    /// <summary>When set, tokens must carry this <c>aud</c>.</summary>
    public string? Audience { get; set; }

    /// <summary>The cookie a browser may carry its token in (EventSource cannot set headers).</summary>
    public string Cookie { get; set; } = "countcachula_token";

    /// <summary>Publisher API keys, each for one tenant: sent as <c>X-Api-Key</c> to <c>POST /api/cache/*</c>.</summary>
    public List<CountCachulaApiKey> ApiKeys { get; set; } = [];

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

/// <summary>What an authenticated caller may do: its tenant, the tag patterns it may listen to, until when.</summary>
/// <param name="Tenant">The tenant the caller belongs to.</param>
/// <param name="Patterns">The interests it may hold; null means any.</param>
/// <param name="ExpiresAtUtc">When its credential stops being valid; null for none.</param>
internal sealed record CallerGrant(string Tenant, IReadOnlyList<Interest>? Patterns, DateTime? ExpiresAtUtc)
{
    /// <summary>True when <paramref name="requested"/> lies inside what the grant allows.</summary>
    public bool Allows(Interest requested) => Patterns is null || Patterns.Any(allowed => Covers(allowed, requested));

    private static bool Covers(Interest allowed, Interest requested)
    {
        return allowed.Kind switch
        {
            InterestKind.All => true,
            InterestKind.Exact => requested.Kind == InterestKind.Exact && requested.Value == allowed.Value,

            // A prefix pattern covers its exact tags and every narrower prefix pattern.
            _ => requested.Kind != InterestKind.All && requested.Value.StartsWith(allowed.Value, StringComparison.Ordinal),
        };
    }
}

/// <summary>
/// Checks the credentials of subscribers (a JWT from the <c>Authorization</c> header, the cookie, or an
/// <c>access_token</c> query parameter) and publishers (an API key, or a JWT with the <c>publish</c> scope), and turns
/// every refusal into an RFC 7807 answer that says what was wrong.
/// </summary>
public static class CountCachulaAccess
{
    /// <summary>The authentication scheme (ASP.NET Core JwtBearer) the hub's endpoints use.</summary>
    public const string Scheme = "CountCachula";

    /// <summary>Claim naming the tenant.</summary>
    public const string TenantClaim = "tenant";

    /// <summary>Claim listing the tag patterns a subscriber may listen to (space- or comma-separated, or repeated).</summary>
    public const string TagsClaim = "tags";

    /// <summary>Space-separated scopes; <c>publish</c> lets the token publish.</summary>
    public const string ScopeClaim = "scope";

    /// <summary>Decides who the subscriber is, or answers why not.</summary>
    internal static async Task<(CallerGrant? Grant, IResult? Problem)> SubscriberAsync(HttpContext context, CountCachulaOptions options)
    {
        var requestedTenant = context.Request.Query["tenant"].ToString();
        if (!options.Auth.IsEnabled)
        {
            var tenant = requestedTenant.Length > 0 ? requestedTenant : options.DefaultTenant;
            return KnownTenant(tenant, options) is { } unknown ? (null, unknown) : (new CallerGrant(tenant, null, null), null);
        }

        var (principal, problem) = await AuthenticateAsync(context);
        if (principal is null)
        {
            return (null, problem);
        }

        return GrantFor(principal, requestedTenant, options);
    }

    /// <summary>Decides for which tenant the caller may publish, or answers why it may not.</summary>
    internal static async Task<(string? Tenant, IResult? Problem)> PublisherAsync(HttpContext context, CountCachulaOptions options)
    {
        var requestedTenant = context.Request.Query["tenant"].ToString();
        if (!options.Auth.IsEnabled)
        {
            var tenant = requestedTenant.Length > 0 ? requestedTenant : options.DefaultTenant;
            return KnownTenant(tenant, options) is { } unknown ? (null, unknown) : (tenant, null);
        }

        var apiKey = context.Request.Headers["X-Api-Key"].ToString();
        if (apiKey.Length > 0)
        {
            var presented = Encoding.UTF8.GetBytes(apiKey);
            var match = options.Auth.ApiKeys.FirstOrDefault(k => k.Key.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(k.Key), presented));
            if (match is null)
            {
                return (null, Unauthorized("Unknown API key", "The X-Api-Key header does not match any key in CountCachula:Auth:ApiKeys."));
            }

            var refusal = WrongTenant(match.Tenant, requestedTenant) ?? KnownTenant(match.Tenant, options);
            return refusal is null ? (match.Tenant, null) : (null, refusal);
        }

        var (principal, problem) = await AuthenticateAsync(context);
        if (principal is null)
        {
            return (null, problem);
        }

        var scopes = principal.FindAll(ScopeClaim).SelectMany(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        if (!scopes.Contains("publish", StringComparer.Ordinal))
        {
            return (null, Forbidden("Not a publisher", "The token is valid but lacks the 'publish' scope; subscriber tokens cannot publish."));
        }

        var (grant, grantProblem) = GrantFor(principal, requestedTenant, options);
        return (grant?.Tenant, grantProblem);
    }

    /// <summary>A 403 naming the first of <paramref name="requested"/> that <paramref name="grant"/> does not allow, or null.</summary>
    internal static IResult? OutsideScope(CallerGrant grant, IEnumerable<Interest> requested) =>
        requested.FirstOrDefault(i => !grant.Allows(i)) is { Value: not null } outside
            ? Forbidden("Interest outside the token's scope", $"The token does not allow listening to '{outside}'; it allows: {string.Join(", ", grant.Patterns!)}.")
            : null;

    /// <summary>
    /// Mints a token the hub accepts — for development, tests and backends that hand tokens to their browsers.
    /// </summary>
    /// <param name="signingKey">The key configured as <c>CountCachula:Auth:SigningKey</c>.</param>
    /// <param name="tenant">The tenant the token is for.</param>
    /// <param name="lifetime">How long it is valid.</param>
    /// <param name="tags">Tag patterns the subscriber may listen to; null for any.</param>
    /// <param name="publish">Whether the token may also publish.</param>
    /// <param name="issuer">The <c>iss</c>, when the hub checks one.</param>
    /// <param name="audience">The <c>aud</c>, when the hub checks one.</param>
    public static string MintToken(string signingKey, string tenant, TimeSpan lifetime, IEnumerable<string>? tags = null, bool publish = false, string? issuer = null, string? audience = null)
    {
        var claims = new List<Claim> { new(TenantClaim, tenant) };
        if (tags is not null)
        {
            claims.Add(new Claim(TagsClaim, string.Join(' ', tags)));
        }

        claims.Add(new Claim(ScopeClaim, publish ? "subscribe publish" : "subscribe"));
        var now = DateTime.UtcNow;
        var token = new JwtSecurityToken(
            issuer,
            audience,
            claims,
            notBefore: (lifetime < TimeSpan.Zero ? now + lifetime : now).AddSeconds(-5),
            expires: now + lifetime,
            signingCredentials: new SigningCredentials(KeyFrom(signingKey), SecurityAlgorithms.HmacSha256));
        return new JwtSecurityTokenHandler().WriteToken(token);
    }

    internal static SymmetricSecurityKey KeyFrom(string signingKey) => new(Encoding.UTF8.GetBytes(signingKey));

    private static async Task<(ClaimsPrincipal? Principal, IResult? Problem)> AuthenticateAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(Scheme);
        if (result.Succeeded)
        {
            return (result.Principal, null);
        }

        if (result.None || result.Failure is null)
        {
            return (null, Unauthorized(
                "Credentials required",
                "Send a token as 'Authorization: Bearer <token>', in the countcachula_token cookie, or as the access_token query parameter."));
        }

        return (null, result.Failure switch
        {
            SecurityTokenExpiredException expired => Unauthorized("Token expired", $"The token expired at {expired.Expires:O}; get a new one."),
            SecurityTokenNotYetValidException => Unauthorized("Token not yet valid", "The token's 'nbf' lies in the future."),
            SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException =>
                Unauthorized("Bad token signature", "The token is not signed with this hub's key (forged, or signed with another key)."),
            SecurityTokenInvalidIssuerException => Unauthorized("Wrong token issuer", "The token's 'iss' is not the one this hub expects."),
            SecurityTokenInvalidAudienceException => Unauthorized("Wrong token audience", "The token's 'aud' is not the one this hub expects."),
            _ => Unauthorized("Invalid token", "The token could not be read as a signed JWT."),
        });
    }

    private static (CallerGrant? Grant, IResult? Problem) GrantFor(ClaimsPrincipal principal, string requestedTenant, CountCachulaOptions options)
    {
        var tenant = principal.FindFirst(TenantClaim)?.Value;
        if (string.IsNullOrEmpty(tenant))
        {
            return (null, Forbidden("No tenant in token", "The token carries no 'tenant' claim."));
        }

        if ((WrongTenant(tenant, requestedTenant) ?? KnownTenant(tenant, options)) is { } refused)
        {
            return (null, refused);
        }

        List<Interest>? patterns = null;
        var tagClaims = principal.FindAll(TagsClaim).ToArray();
        if (tagClaims.Length > 0)
        {
            patterns = [];
            foreach (var text in tagClaims.SelectMany(c => c.Value.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries)))
            {
                if (!Interest.TryParse(text, out var pattern, out _))
                {
                    return (null, Forbidden("Unreadable token scope", $"The token's 'tags' claim holds '{text}', which is not a tag or pattern."));
                }

                patterns.Add(pattern);
            }
        }

        DateTime? expires = principal.FindFirst("exp")?.Value is { } exp && long.TryParse(exp, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime
            : null;
        return (new CallerGrant(tenant, patterns, expires), null);
    }

    private static IResult? WrongTenant(string tenant, string requestedTenant) =>
        requestedTenant.Length > 0 && !string.Equals(requestedTenant, tenant, StringComparison.Ordinal)
            ? Forbidden("Wrong tenant", "The credential is for another tenant than the one this request names.")
            : null;

    private static IResult? KnownTenant(string tenant, CountCachulaOptions options)
    {
        if (CacheTenant.Validate(tenant) is { } invalid)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["tenant"] = [invalid] }, detail: invalid);
        }

        return options.Tenants.Length > 0 && !options.Tenants.Contains(tenant, StringComparer.Ordinal)
            ? Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Unknown tenant", detail: "This hub does not serve the tenant named (see CountCachula:Tenants).")
            : null;
    }

    private static IResult Unauthorized(string title, string detail) => new UnauthorizedProblem(title, detail);

    private static IResult Forbidden(string title, string detail) =>
        Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: title, detail: detail);

    /// <summary>A 401 ProblemDetails that also names the scheme in <c>WWW-Authenticate</c>.</summary>
    private sealed class UnauthorizedProblem(string title, string detail) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.WWWAuthenticate = "Bearer";
            return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: title, detail: detail).ExecuteAsync(httpContext);
        }
    }
}

/// <summary>Configures the JwtBearer scheme from <see cref="CountCachulaAuthOptions"/> and reads tokens from cookie and query too.</summary>
internal sealed class CountCachulaJwtSetup(IOptions<CountCachulaOptions> options) : IConfigureNamedOptions<JwtBearerOptions>
{
    public void Configure(string? name, JwtBearerOptions jwt)
    {
        if (name != CountCachulaAccess.Scheme)
        {
            return;
        }

        var auth = options.Value.Auth;
        jwt.MapInboundClaims = false;
        jwt.TokenValidationParameters = new TokenValidationParameters
        {
            ValidateIssuerSigningKey = true,
            IssuerSigningKey = string.IsNullOrEmpty(auth.SigningKey) ? null : CountCachulaAccess.KeyFrom(auth.SigningKey),
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ValidateIssuer = auth.Issuer is not null,
            ValidIssuer = auth.Issuer,
            ValidateAudience = auth.Audience is not null,
            ValidAudience = auth.Audience,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            ClockSkew = TimeSpan.FromSeconds(5),
        };
        jwt.Events = new JwtBearerEvents
        {
            OnMessageReceived = context =>
            {
                // EventSource cannot set headers: a header wins, then the cookie, then ?access_token=.
                if (context.Request.Headers.Authorization.Count == 0)
                {
                    var token = context.Request.Cookies[auth.Cookie];
                    if (string.IsNullOrEmpty(token))
                    {
                        token = context.Request.Query["access_token"].ToString();
                    }

                    context.Token = string.IsNullOrEmpty(token) ? null : token;
                }

                return Task.CompletedTask;
            },
        };
    }

    public void Configure(JwtBearerOptions options) => Configure(Options.DefaultName, options);
}
