using CountCachula.AspNetCore.Security;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Hosting;

/// <summary>
/// The CORS policy of the stream and the API, from <see cref="CountCachulaOptions.AllowedOrigins"/>: pages on other
/// origins open the stream and read <c>Cache-Tags</c> once their origin is configured.
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

        // A page changes its stream's interests (X-Stream-Key) and retries publishes safely (Idempotency-Key); it reads
        // which tags a response carries and when to come back after a 429 or 503. API keys are for servers: no
        // X-Api-Key here, so a browser never gets to send one cross-origin.
        policy.WithMethods("GET", "POST", "PATCH")
            .WithHeaders("Content-Type", "Authorization", "Last-Event-ID", "Accept", StreamKey.Header, "Idempotency-Key")
            .WithExposedHeaders("Cache-Tags", "Retry-After", CacheTags.CacheEventIdHeader.Name);
    });
}
