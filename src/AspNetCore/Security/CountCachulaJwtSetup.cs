using CountCachula.AspNetCore.Hosting;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace CountCachula.AspNetCore.Security;

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
