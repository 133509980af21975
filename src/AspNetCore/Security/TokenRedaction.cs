using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// Keeps tokens out of logs. EventSource cannot send headers, so browsers carry their token as <c>?access_token=</c>,
/// and ASP.NET Core's request lines ("Request starting HTTP/1.1 GET …?access_token=eyJ…", category
/// <c>Microsoft.AspNetCore.Hosting.Diagnostics</c>) and Kestrel's bad-request lines write the whole query at
/// Information and Debug. This runs after every other logging configuration (appsettings, environment, code) and caps
/// those categories at Warning for every provider, so no configuration — or its absence — logs a token.
/// </summary>
internal sealed class TokenRedaction : IPostConfigureOptions<LoggerFilterOptions>
{
    /// <summary>The categories whose messages can contain a request's query string.</summary>
    public static readonly string[] Categories = ["Microsoft.AspNetCore.Hosting.Diagnostics", "Microsoft.AspNetCore.Server.Kestrel.BadRequests"];

    public void PostConfigure(string? name, LoggerFilterOptions options)
    {
        // A rule for a provider beats every rule for all providers, and of equally specific rules the last wins: so one
        // rule per provider already named, plus one for all, each appended after the rules it must override.
        var providers = options.Rules.Select(rule => rule.ProviderName).Append(null).Distinct().ToArray();
        foreach (var category in Categories)
        {
            foreach (var provider in providers)
            {
                var stricter = options.Rules
                    .Where(rule => rule.ProviderName == provider && rule.CategoryName == category && rule.Filter is null && rule.LogLevel > LogLevel.Warning)
                    .Select(rule => rule.LogLevel)
                    .LastOrDefault();
                options.Rules.Add(new LoggerFilterRule(provider, category, stricter ?? LogLevel.Warning, filter: null));
            }
        }
    }
}
