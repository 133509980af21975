using CountCachula.Runtime.Metrics;

namespace CountCachula.AspNetCore;

/// <summary>Who may read <c>/metrics</c>, and how many tenants get a label of their own: <c>CountCachula:Metrics</c>.</summary>
public sealed class CountCachulaMetricsOptions
{
    /// <summary>
    /// Whether <c>/metrics</c> needs an operator credential (a token with the <c>admin</c> scope; Prometheus sends it
    /// as <c>authorization.credentials</c>). Unset means yes everywhere except Development. With auth off there are no
    /// credentials, so it is open; use <see cref="RequireHost"/> then.
    /// </summary>
    public bool? RequireAuthorization { get; set; }

    /// <summary>
    /// When set, <c>/metrics</c> answers only requests to these hosts (ASP.NET Core's <c>RequireHost</c>), e.g.
    /// <c>*:9464</c> for a management port that Kestrel also listens on (<c>--urls "http://+:8080;http://+:9464"</c>)
    /// and the outside world cannot reach. Elsewhere it is a 404.
    /// </summary>
    public string[] RequireHost { get; set; } = [];

    /// <summary>
    /// How many tenants keep their own value of the <c>tenant</c> label on the <c>countcachula</c> instruments; later
    /// ones are counted under <c>other</c>, so the number of series stays bounded. Default 100.
    /// </summary>
    public int MaxTenantLabels { get; set; } = TenantLabels.DefaultLimit;
}

/// <summary>The operator dashboard: <c>CountCachula:Dashboard</c>.</summary>
public sealed class CountCachulaDashboardOptions
{
    /// <summary>
    /// The largest snapshot the dashboard stream sends (UTF-8 bytes of its JSON), so a viewer costs a bounded amount
    /// however large the events it lists: beyond it the oldest recent events are left out. Default 64 KiB.
    /// </summary>
    public int MaxSnapshotBytes { get; set; } = 64 * 1024;
}
