using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// Configures the JwtBearer schemes from <see cref="CountCachulaAuthOptions"/>: the signing key's (HS256) and one per
/// OpenID Connect provider (RSA and ECDSA, keys from its metadata). Both read tokens from the cookie and the query too.
/// </summary>
internal sealed class CountCachulaJwtSetup(IOptions<CountCachulaOptions> options, TokenAuthorities authorities) : IConfigureNamedOptions<JwtBearerOptions>
{
    /// <summary>What a provider may sign with: RSA and ECDSA. Never HMAC (a provider's public key is no secret) nor none.</summary>
    private static readonly string[] ProviderAlgorithms =
    [
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.RsaSsaPssSha384, SecurityAlgorithms.RsaSsaPssSha512,
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.EcdsaSha512,
    ];

    public void Configure(string? name, JwtBearerOptions jwt)
    {
        var auth = options.Value.Auth;
        if (name == TokenAuthorities.SigningKeyScheme)
        {
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
            jwt.Events = new JwtBearerEvents { OnMessageReceived = ReadToken };
        }
        else if (authorities.ForScheme(name) is { } provider)
        {
            var (authority, metadata) = provider;
            jwt.MapInboundClaims = false;

            // The token scheme refreshes the keys for an unknown kid before this scheme validates (AuthorityMetadata).
            jwt.RefreshOnIssuerKeyNotFound = false;
            jwt.ConfigurationManager = metadata;
            jwt.TokenValidationParameters = new TokenValidationParameters
            {
                // Keys and issuer come from the provider's metadata.
                ValidateIssuerSigningKey = true,
                RequireSignedTokens = true,
                ValidAlgorithms = ProviderAlgorithms,
                ValidateIssuer = true,
                ValidateAudience = true,
                ValidAudience = authority.Audience,
                ValidateLifetime = true,
                RequireExpirationTime = true,

                // The provider's clock is not the hub's.
                ClockSkew = TimeSpan.FromSeconds(30),
            };
            jwt.Events = new JwtBearerEvents
            {
                OnMessageReceived = ReadToken,
                OnTokenValidated = context =>
                {
                    context.Principal = ProviderClaims.Map(context.Principal!, authority);
                    return Task.CompletedTask;
                },
            };
        }
    }

    public void Configure(JwtBearerOptions options) => Configure(Options.DefaultName, options);

    /// <summary>EventSource cannot set headers: a header wins, then the cookie, then <c>?access_token=</c>.</summary>
    private Task ReadToken(MessageReceivedContext context)
    {
        if (context.Request.Headers.Authorization.Count == 0)
        {
            context.Token = TokenAuthorities.TokenOf(context.Request, options.Value.Auth.Cookie);
        }

        return Task.CompletedTask;
    }
}

/// <summary>Adds a JwtBearer scheme for each configured OpenID Connect provider (known only once options are bound).</summary>
internal sealed class AuthoritySchemes(TokenAuthorities authorities) : IConfigureOptions<AuthenticationOptions>
{
    public void Configure(AuthenticationOptions options)
    {
        foreach (var authority in authorities.All)
        {
            if (!options.Schemes.Any(s => s.Name == authority.Scheme))
            {
                options.AddScheme(authority.Scheme, scheme => scheme.HandlerType = typeof(JwtBearerHandler));
            }
        }
    }
}
