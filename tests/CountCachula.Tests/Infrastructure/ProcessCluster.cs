using System.Diagnostics;
using System.Net.Http.Json;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// The cluster of <c>scripts/cluster.sh</c>: a real redis-server and N silo processes clustered through it, each with
/// its frontend on its own port — the docker-compose topology, as processes.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private readonly string _directory;
    private readonly Dictionary<string, string> _environment;

    private ProcessCluster(string directory, Dictionary<string, string> environment, IReadOnlyList<Uri> urls)
    {
        _directory = directory;
        _environment = environment;
        Urls = urls;
    }

    public IReadOnlyList<Uri> Urls { get; }

    public static async Task<ProcessCluster> StartAsync(int silos)
    {
        var directory = Directory.CreateTempSubdirectory("countcachula-cluster-").FullName;
        var environment = new Dictionary<string, string>
        {
            ["CLUSTER_DIR"] = directory,
            ["CLUSTER_ID"] = "crash-" + Guid.NewGuid().ToString("N")[..8],
            ["REDIS_PORT"] = FreePorts.Next().ToString(),
            ["HTTP_PORTS"] = string.Join(' ', Enumerable.Range(0, silos).Select(_ => FreePorts.Next())),
            ["SILO_PORTS"] = string.Join(' ', Enumerable.Range(0, silos).Select(_ => FreePorts.Next())),
            ["GATEWAY_PORTS"] = string.Join(' ', Enumerable.Range(0, silos).Select(_ => FreePorts.Next())),
            // Production processes need credentials unless told otherwise; this test is about crashes, not the door.
            ["SILO_ARGS"] = "--CountCachula:Auth:Enabled false",
            // The same build the tests run against.
            ["CONFIGURATION"] = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug",
        };
        var output = await RunScriptAsync(environment, TimeSpan.FromMinutes(3), "up", silos.ToString());
        var urls = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("http://", StringComparison.Ordinal)).Select(l => new Uri(l.Trim())).ToArray();
        Assert.True(urls.Length == silos, $"Starting the cluster: expected {silos} URLs from cluster.sh, got:\n{output}");
        return new ProcessCluster(directory, environment, urls);
    }

    /// <summary>kill -9 silo <paramref name="index"/>.</summary>
    public Task KillAsync(int index) => RunScriptAsync(_environment, TimeSpan.FromSeconds(30), "kill", index.ToString());

    /// <summary>The silo the hub grain of <c>default</c> is active on, as silo <paramref name="index"/> sees it.</summary>
    public async Task<(string Silo, string HubSilo)> SiloOfAsync(HttpClient http, int index)
    {
        var diagnostics = await http.GetFromJsonAsync<Diagnostics>(new Uri(Urls[index], "/api/cache-events/diagnostics"));
        return (diagnostics!.Silo, diagnostics.HubSilo);
    }

    public string Log(int index) => File.Exists(Path.Combine(_directory, $"silo{index}.log")) ? File.ReadAllText(Path.Combine(_directory, $"silo{index}.log")) : "";

    public async ValueTask DisposeAsync()
    {
        await RunScriptAsync(_environment, TimeSpan.FromSeconds(60), "down");
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A log still being written; the temp folder is cleaned up with the machine.
        }
    }

    private static async Task<string> RunScriptAsync(Dictionary<string, string> environment, TimeSpan timeout, params string[] args)
    {
        var script = Path.Combine(RepositoryRoot(), "scripts", "cluster.sh");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"cluster.sh {string.Join(' ', args)} did not finish within {timeout}.");
        }

        Assert.True(process.ExitCode == 0, $"cluster.sh {string.Join(' ', args)} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        return await stdout;
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CountCachula.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("The repository root (CountCachula.sln) was not found above the test binaries.");
    }

    private sealed record Diagnostics(string Silo, string HubSilo);
}
