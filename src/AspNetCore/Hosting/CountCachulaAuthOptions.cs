namespace CountCachula.AspNetCore.Hosting;

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
