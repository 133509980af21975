using System.IdentityModel.Tokens.Jwt;
using System.Security.Claims;
using System.Text;
using CountCachula.AspNetCore.Interests;
using Microsoft.AspNetCore.Authentication;
using Microsoft.IdentityModel.Tokens;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// The hub's access rules: who a subscriber (a JWT from the <c>Authorization</c> header, the cookie, or an
/// <c>access_token</c> query parameter), a publisher (an API key, or a JWT with the <c>publish</c> scope) or an operator
/// (a JWT with the <c>admin</c> scope) is, and what it may do. The authorization policies
/// (<see cref="CountCachulaPolicies"/>) apply them; every refusal is an RFC 7807 answer that says what was wrong.
/// </summary>
public static class CountCachulaAccess
{
    /// <summary>
    /// The authentication scheme of subscriber, publisher and operator tokens. It hands each token to the JwtBearer
    /// scheme that checks it: HS256 with <c>CountCachula:Auth:SigningKey</c>, or an OpenID Connect provider's
    /// (<c>CountCachula:Auth:Authority</c>, <c>CountCachula:Auth:Authorities</c>) when the token's <c>iss</c> is one.
    /// </summary>
    public const string Scheme = "CountCachula";

    /// <summary>The authentication scheme of publisher API keys (<c>X-Api-Key</c>).</summary>
    public const string ApiKeyScheme = "CountCachula.ApiKey";

    /// <summary>The scheme publishers authenticate with: the API key when <c>X-Api-Key</c> is sent, else the token.</summary>
    public const string PublisherScheme = "CountCachula.Publisher";

    /// <summary>Claim naming the tenant.</summary>
    public const string TenantClaim = "tenant";

    /// <summary>
    /// Claim listing the tag patterns a subscriber may listen to (space- or comma-separated, or repeated). Absent, empty
    /// or unreadable grants nothing; <c>*</c> grants every tag of the tenant.
    /// </summary>
    public const string TagsClaim = "tags";

    /// <summary>Space-separated scopes: <see cref="PublishScope"/>, <see cref="AdminScope"/>.</summary>
    public const string ScopeClaim = "scope";

    /// <summary>The scope that lets a token publish.</summary>
    public const string PublishScope = "publish";

    /// <summary>The scope that lets a token see the operator views (dashboard, diagnostics, metrics).</summary>
    public const string AdminScope = "admin";

    /// <summary>
    /// The grant the authorization policy left on the request. Endpoints of the hub are mapped with a policy, so one
    /// is always there; a host that strips the policy gets an exception, never an open door.
    /// </summary>
    public static CallerGrant GrantOf(HttpContext context) =>
        context.Features.Get<CallerGrant>()
        ?? throw new InvalidOperationException("No caller grant on the request: the endpoint must be mapped with a CountCachulaPolicies policy.");

    /// <summary>Decides who the subscriber is, or answers why not.</summary>
    internal static async Task<(CallerGrant? Grant, IResult? Problem)> SubscriberAsync(HttpContext context, CountCachulaOptions options)
    {
        var requestedTenant = context.Request.Query["tenant"].ToString();
        if (!options.Auth.IsEnabled)
        {
            return OpenGrant(requestedTenant, options);
        }

        var (principal, problem) = await AuthenticateAsync(context, Scheme);
        if (principal is null)
        {
            return (null, problem);
        }

        var (grant, refused) = GrantFor(principal, requestedTenant, options, readTags: true);
        return (grant is null ? null : grant with { Credential = CredentialOf(principal) }, refused);
    }

    /// <summary>
    /// The credential a subscriber's limits are counted against: its subject within its issuer, or, for a token with no
    /// subject, the token's own claims (two tokens with the same claims grant the same and count as one).
    /// </summary>
    internal static string CredentialOf(ClaimsPrincipal principal)
    {
        var issuer = principal.FindFirst("iss")?.Value ?? "";
        if (principal.FindFirst("sub")?.Value is { Length: > 0 } subject)
        {
            return $"sub {issuer} {subject}";
        }

        var claims = new StringBuilder();
        foreach (var claim in principal.Claims.OrderBy(c => c.Type, StringComparer.Ordinal).ThenBy(c => c.Value, StringComparer.Ordinal))
        {
            claims.Append(claim.Type).Append('\0').Append(claim.Value).Append('\n');
        }

        return "token " + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(claims.ToString())), 0, 12);
    }

    /// <summary>Decides for which tenant the caller may publish, or answers why it may not.</summary>
    internal static async Task<(CallerGrant? Grant, IResult? Problem)> PublisherAsync(HttpContext context, CountCachulaOptions options)
    {
        var requestedTenant = context.Request.Query["tenant"].ToString();
        if (!options.Auth.IsEnabled)
        {
            return OpenGrant(requestedTenant, options);
        }

        var (principal, problem) = await AuthenticateAsync(context, PublisherScheme);
        if (principal is null)
        {
            return (null, problem);
        }

        if (!HasScope(principal, PublishScope))
        {
            return (null, Forbidden("Not a publisher", "The token is valid but lacks the 'publish' scope; subscriber tokens cannot publish."));
        }

        return GrantFor(principal, requestedTenant, options, readTags: false);
    }

    /// <summary>Decides whether the caller is an operator (a token with the <c>admin</c> scope), or answers why not.</summary>
    public static async Task<(CallerGrant? Grant, IResult? Problem)> OperatorAsync(HttpContext context, CountCachulaOptions options)
    {
        if (!options.Auth.IsEnabled)
        {
            return (new CallerGrant(options.DefaultTenant, [Interest.All], null), null);
        }

        var (principal, problem) = await AuthenticateAsync(context, Scheme);
        if (principal is null)
        {
            return (null, problem);
        }

        return HasScope(principal, AdminScope)
            ? (new CallerGrant(principal.FindFirst(TenantClaim)?.Value ?? options.DefaultTenant, [], ExpiresAt(principal)), null)
            : (null, Forbidden("Not an operator", "The token is valid but lacks the 'admin' scope; the dashboard, diagnostics and metrics are for operators."));
    }

    /// <summary>
    /// Evaluates the <see cref="CountCachulaPolicies.TagScope"/> policy for <paramref name="requested"/> against each of
    /// <paramref name="grants"/> in turn; the refusal of the first that does not allow them, or null.
    /// </summary>
    internal static async Task<IResult?> AuthorizeScopeAsync(HttpContext context, IReadOnlyList<Interest> requested, params IEnumerable<CallerGrant> grants)
    {
        var authorization = context.RequestServices.GetRequiredService<Microsoft.AspNetCore.Authorization.IAuthorizationService>();
        foreach (var grant in grants)
        {
            var result = await authorization.AuthorizeAsync(context.User, new ScopeCheck(grant, requested), CountCachulaPolicies.TagScope);
            if (!result.Succeeded)
            {
                return result.Failure?.FailureReasons.OfType<CountCachulaRefusal>().FirstOrDefault()?.Problem
                    ?? Forbidden("Interest outside the token's scope", "The application's scope rules refuse these interests.");
            }
        }

        return null;
    }

    /// <summary>A 403 naming the first of <paramref name="requested"/> that <paramref name="grant"/> does not allow, or null.</summary>
    internal static IResult? OutsideScope(CallerGrant grant, IEnumerable<Interest> requested) =>
        requested.FirstOrDefault(i => !grant.Allows(i)) is { Value: not null } outside
            ? Forbidden("Interest outside the token's scope", $"The token does not allow listening to '{outside}'; it allows: {Describe(grant)}.")
            : null;

    /// <summary>A 403 when <paramref name="grant"/> allows no tag at all (a token whose <c>tags</c> claim is absent or empty), or null.</summary>
    public static IResult? NothingGranted(CallerGrant grant) => grant.Patterns.Count == 0
        ? Forbidden("Token grants no tags", $"The token's '{TagsClaim}' claim is absent or empty, which grants nothing; mint it with the tags it may listen to, or '*' for all of the tenant's tags.")
        : null;

    /// <summary>
    /// Mints a token the hub accepts — for development, tests and backends that hand tokens to their browsers.
    /// </summary>
    /// <param name="signingKey">The key configured as <c>CountCachula:Auth:SigningKey</c>.</param>
    /// <param name="tenant">The tenant the token is for.</param>
    /// <param name="lifetime">How long it is valid.</param>
    /// <param name="tags">
    /// Tag patterns the subscriber may listen to; <c>["*"]</c> for all of the tenant's tags. Null (or empty) mints a
    /// token without a <c>tags</c> claim, which may subscribe to nothing — right for publisher and operator tokens.
    /// </param>
    /// <param name="publish">Whether the token may also publish.</param>
    /// <param name="issuer">The <c>iss</c>, when the hub checks one.</param>
    /// <param name="audience">The <c>aud</c>, when the hub checks one.</param>
    /// <param name="admin">Whether the token may see the operator views (dashboard, diagnostics, metrics).</param>
    /// <param name="subject">The <c>sub</c>: who the token is for, whose streams share the per-credential limits.</param>
    public static string MintToken(string signingKey, string tenant, TimeSpan lifetime, IEnumerable<string>? tags = null, bool publish = false, string? issuer = null, string? audience = null, bool admin = false, string? subject = null)
    {
        var claims = new List<Claim> { new(TenantClaim, tenant) };
        if (!string.IsNullOrEmpty(subject))
        {
            claims.Add(new Claim("sub", subject));
        }

        if (tags?.ToArray() is { Length: > 0 } patterns)
        {
            claims.Add(new Claim(TagsClaim, string.Join(' ', patterns)));
        }

        claims.Add(new Claim(ScopeClaim, string.Join(' ', new[] { "subscribe", publish ? PublishScope : null, admin ? AdminScope : null }.OfType<string>())));
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

    /// <summary>With auth off: the tenant named (or the default one), every tag.</summary>
    private static (CallerGrant? Grant, IResult? Problem) OpenGrant(string requestedTenant, CountCachulaOptions options)
    {
        var tenant = requestedTenant.Length > 0 ? requestedTenant : options.DefaultTenant;
        return KnownTenant(tenant, options) is { } unknown ? (null, unknown) : (new CallerGrant(tenant, [Interest.All], null), null);
    }

    private static async Task<(ClaimsPrincipal? Principal, IResult? Problem)> AuthenticateAsync(HttpContext context, string scheme)
    {
        // Handlers cache their result per request, so asking again (policy after policy) costs nothing.
        var result = await context.AuthenticateAsync(scheme);
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
            AuthorityUnavailableException => new Problem(StatusCodes.Status503ServiceUnavailable,
                "Token issuer unreachable", "The identity provider that issued the token cannot be reached to read its keys; try again shortly.", "Retry-After", "5"),
            UnknownApiKeyException => Unauthorized("Unknown API key", "The X-Api-Key header does not match any key in CountCachula:Auth:ApiKeys."),
            SecurityTokenExpiredException expired => Unauthorized("Token expired", $"The token expired at {expired.Expires:O}; get a new one."),
            SecurityTokenNotYetValidException => Unauthorized("Token not yet valid", "The token's 'nbf' lies in the future."),
            SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException =>
                Unauthorized("Bad token signature", "The token is not signed with a key this hub accepts (forged, signed with another key, or with a key its identity provider does not publish)."),
            SecurityTokenInvalidIssuerException => Unauthorized("Wrong token issuer", "The token's 'iss' is not the one this hub expects."),
            SecurityTokenInvalidAudienceException => Unauthorized("Wrong token audience", "The token's 'aud' is not the one this hub expects."),
            _ => Unauthorized("Invalid token", "The token could not be read as a signed JWT."),
        });
    }

    private static (CallerGrant? Grant, IResult? Problem) GrantFor(ClaimsPrincipal principal, string requestedTenant, CountCachulaOptions options, bool readTags)
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

        // Fail closed: no 'tags' claim, an empty one or an empty array grant nothing; only an explicit '*' grants all.
        var patterns = new List<Interest>();
        if (readTags)
        {
            foreach (var text in principal.FindAll(TagsClaim).SelectMany(c => c.Value.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries)))
            {
                if (!Interest.TryParse(text, out var pattern, out _))
                {
                    return (null, Forbidden("Unreadable token scope", $"The token's 'tags' claim holds '{text}', which is not a tag or pattern."));
                }

                if (!patterns.Contains(pattern))
                {
                    patterns.Add(pattern);
                }
            }
        }

        return (new CallerGrant(tenant, patterns, ExpiresAt(principal)), null);
    }

    private static DateTime? ExpiresAt(ClaimsPrincipal principal) =>
        principal.FindFirst("exp")?.Value is { } exp && long.TryParse(exp, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime
            : null;

    private static bool HasScope(ClaimsPrincipal principal, string scope) =>
        principal.FindAll(ScopeClaim).SelectMany(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Contains(scope, StringComparer.Ordinal);

    private static string Describe(CallerGrant grant) =>
        grant.Patterns.Count == 0 ? $"nothing (its '{TagsClaim}' claim is absent or empty)" : string.Join(", ", grant.Patterns);

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

    internal static IResult Unauthorized(string title, string detail) => new Problem(StatusCodes.Status401Unauthorized, title, detail, "WWW-Authenticate", "Bearer");

    internal static IResult Forbidden(string title, string detail) =>
        Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: title, detail: detail);

    /// <summary>A ProblemDetails with one header besides (a 401's <c>WWW-Authenticate</c>, a 503's <c>Retry-After</c>).</summary>
    private sealed class Problem(int status, string title, string detail, string header, string value) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers[header] = value;
            return Results.Problem(statusCode: status, title: title, detail: detail).ExecuteAsync(httpContext);
        }
    }
}
