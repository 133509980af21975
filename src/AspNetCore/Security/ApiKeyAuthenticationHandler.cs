using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// The publisher API-key scheme: an <c>X-Api-Key</c> header that matches one of <c>CountCachula:Auth:ApiKeys</c>
/// authenticates as that key's tenant with the <c>publish</c> scope (and nothing else: no tags, no <c>admin</c>).
/// No header is "no result", so another scheme may still decide; an unknown key is a failure.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<CountCachulaOptions> options) : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, logger, encoder)
{
    /// <summary>The header publishers send their key in.</summary>
    public const string Header = "X-Api-Key";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var apiKey = Request.Headers[Header].ToString();
        if (apiKey.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        // Every configured key is compared in constant time, so the answer's timing says nothing about near misses.
        var presented = Encoding.UTF8.GetBytes(apiKey);
        CountCachulaApiKey? match = null;
        foreach (var key in options.Value.Auth.ApiKeys)
        {
            if (key.Key.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key.Key), presented))
            {
                match ??= key;
            }
        }

        if (match is null)
        {
            return Task.FromResult(AuthenticateResult.Fail(new UnknownApiKeyException()));
        }

        var identity = new ClaimsIdentity(
            [new Claim(CountCachulaAccess.TenantClaim, match.Tenant), new Claim(CountCachulaAccess.ScopeClaim, CountCachulaAccess.PublishScope)],
            Scheme.Name);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
    }
}

/// <summary>The failure of an <c>X-Api-Key</c> that matches no configured key.</summary>
internal sealed class UnknownApiKeyException() : Exception("The X-Api-Key header does not match any configured key.");
