using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Hosting;

/// <summary>
/// The CORS policy of the stream and the API, from <see cref="CountCachulaOptions.AllowedOrigins"/>: the
/// specification's troubleshooting ("check CORS headers") answered in configuration.
/// </summary>
public sealed class CountCachulaCors(IOptions<CountCachulaOptions> options) : IConfigureOptions<CorsOptions>
{
    /// <summary>The policy's name, for <c>.RequireCors(CountCachulaCors.PolicyName)</c> on an application's own endpoints.</summary>
    public const string PolicyName = "CountCachula";

    /// <inheritdoc />
    public void Configure(CorsOptions cors) => cors.AddPolicy(PolicyName, policy =>
    {
        var origins = options.Value.AllowedOrigins;
        if (origins.Contains("*"))
        {
            policy.AllowAnyOrigin();
        }
        else
        {
            // Credentials too: a subscriber may authenticate with a cookie, since EventSource cannot send headers.
            policy.WithOrigins(origins).AllowCredentials();
        }

        policy.WithMethods("GET", "POST", "PATCH")
            .WithHeaders("Content-Type", "Authorization", "Last-Event-ID", "Accept")
            .WithExposedHeaders("Cache-Tags");
    });
}
