using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// The <see cref="CountCachulaAccess.Scheme"/> scheme: hands each token to the JwtBearer scheme that validates it — the
/// signing key's, or an OpenID Connect provider's (<see cref="TokenAuthorities.SelectAsync"/>) — after making sure that
/// provider's keys include the one the token names (a key rotation is picked up by the request that meets it).
/// </summary>
/// <remarks>
/// A policy scheme would do the forwarding, but its selector cannot wait: reading a provider's discovery document (to
/// learn the issuer it states) and refreshing its keys both have to.
/// </remarks>
internal sealed class TokenSchemeHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TokenAuthorities authorities) : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var (scheme, metadata, token) = await authorities.SelectAsync(TokenAuthorities.TokenOf(Request, authorities.Cookie), Context.RequestAborted);
        if (metadata is not null)
        {
            try
            {
                await metadata.EnsureKeyAsync(token?.Kid, Context.RequestAborted);
            }
            catch (AuthorityUnavailableException unavailable)
            {
                return AuthenticateResult.Fail(unavailable);
            }
        }

        return await Context.AuthenticateAsync(scheme);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) => Context.ChallengeAsync(authorities.DefaultScheme, properties);

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) => Context.ForbidAsync(authorities.DefaultScheme, properties);
}
