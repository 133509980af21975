using System.Text.Json;
using System.Text.RegularExpressions;
using CountCachula.Grains;
using CountCachula.Tests.Infrastructure;
using CountCachula.WebFrontend.Hosting;
using CountCachula.AspNetCore;
using CountCachula.AspNetCore.Publishing;
using Microsoft.Extensions.Configuration;
using Orleans.Configuration;

namespace CountCachula.Tests.Product;

/// <summary>
/// The deployment files say what the app understands: every setting docker-compose.yml and the Kubernetes manifests
/// pass is one the app binds, and every series the grafana dashboard queries is one the app exports.
/// </summary>
public sealed partial class DeploymentFilesTests
{
    public static TheoryData<string> DeploymentFiles() => new()
    {
        "docker-compose.yml",
        "deploy/kubernetes/countcachula.yaml",
    };

    [Theory]
    [MemberData(nameof(DeploymentFiles))]
    public void Every_setting_in_a_deployment_file_binds_to_an_option_the_app_reads(string file)
    {
        var settings = SettingsIn(File.ReadAllText(Path.Combine(AppProcess.RepositoryRoot, file)));
        Assert.Contains("Orleans:Membership", settings.Keys);
        // The silos listen beyond loopback in Production: without cluster TLS they would refuse to start.
        Assert.Contains("CountCachula:Cluster:Tls:CertificatePath", settings.Keys);
        Assert.Contains("CountCachula:Cluster:Tls:CaCertificatePath", settings.Keys);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        // Sections bound to an options class: the binder refuses a key that matches no property.
        Action<BinderOptions> strict = o => o.ErrorOnUnknownConfiguration = true;
        var countCachula = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Where(s => s.Key.StartsWith("CountCachula:", StringComparison.Ordinal)
                && !s.Key.StartsWith("CountCachula:Telemetry:", StringComparison.Ordinal) && !s.Key.StartsWith("CountCachula:Hub:", StringComparison.Ordinal)
                && !s.Key.StartsWith("CountCachula:Cluster:", StringComparison.Ordinal)))
            .Build();
        countCachula.GetSection(CountCachulaOptions.SectionName).Get<CountCachulaOptions>(strict);
        configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>(strict);
        configuration.GetSection("CountCachula:Hub").Get<CountCachulaSiloOptions>(strict);
        configuration.GetSection(CountCachulaClusterOptions.SectionName).Get<CountCachulaClusterOptions>(strict);
        configuration.GetSection("Orleans:Streams").Get<CountCachulaSiloOptions>(strict);
        configuration.GetSection("Orleans:Probing").Get<ClusterMembershipOptions>(strict);

        // The other Orleans keys are read one by one where the silo is configured.
        var frontendHost = File.ReadAllText(Path.Combine(AppProcess.RepositoryRoot, "src", "WebFrontend", "FrontendHost.cs"));
        var unread = settings.Keys
            .Where(k => k.StartsWith("Orleans:", StringComparison.Ordinal) && k.Count(c => c == ':') == 1)
            .Where(k => !frontendHost.Contains($"\"{k["Orleans:".Length..]}\"", StringComparison.Ordinal))
            .ToArray();
        Assert.True(unread.Length == 0, $"{file} sets what FrontendHost never reads: {string.Join(", ", unread)}");
    }

    [Fact]
    public async Task Every_series_the_grafana_dashboard_queries_is_exported()
    {
        await using var frontend = await TestFrontend.StartAsync("grafana-" + Guid.NewGuid().ToString("N")[..8]);
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using (client)
        {
            await frontend.Get<ICacheHub>().InvalidateAsync("grafana:1");
            await client.NextAsync("the event whose delivery fills the latency histogram");
        }

        await frontend.Registry.UntilAsync(r => r.Count == 0, "waiting for the stream to close, so its request is counted");
        var scrape = await frontend.Http.GetStringAsync("/metrics");

        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppProcess.RepositoryRoot, "deploy", "grafana", "countcachula.json")));
        var expressions = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .ToArray();
        Assert.NotEmpty(expressions);
        var series = expressions.SelectMany(e => SeriesName().Matches(e).Select(m => m.Value)).Distinct().ToArray();
        var missing = series.Where(s => !scrape.Contains("\n" + s + "{", StringComparison.Ordinal)).ToArray();
        Assert.True(missing.Length == 0, $"The dashboard queries series /metrics does not have: {string.Join(", ", missing)}");
    }

    /// <summary>
    /// <c>Name: value</c> (compose) and <c>- name: Name</c> / <c>value: v</c> (Kubernetes) environment entries for the
    /// app's sections, as configuration keys (<c>__</c> → <c>:</c>). Values from elsewhere (secrets, <c>${VAR}</c>) are
    /// stood in for: only the keys are checked.
    /// </summary>
    private static Dictionary<string, string?> SettingsIn(string yaml)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (Match match in EnvironmentEntry().Matches(yaml))
        {
            var value = match.Groups["value"].Value.Trim().Trim('"');
            settings[match.Groups["key"].Value.Replace("__", ":", StringComparison.Ordinal)] =
                value.Length == 0 || value.StartsWith('$') || value.StartsWith("valueFrom", StringComparison.Ordinal) ? "stand-in" : value;
        }

        return settings;
    }

    [GeneratedRegex(@"(?:^\s+|name:\s+)(?<key>(?:CountCachula|Orleans)__[A-Za-z0-9_]+)(?::[ \t]*(?<value>[^\r\n]*))?(?:\r?\n\s+value:[ \t]*(?<value>[^\r\n]*))?", RegexOptions.Multiline)]
    private static partial Regex EnvironmentEntry();

    [GeneratedRegex(@"\b(?:countcachula|kestrel|http_server|dotnet|orleans)_[a-z0-9_]+")]
    private static partial Regex SeriesName();
}
