using System.Diagnostics;
using System.Net.Http.Json;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// The cluster of <c>scripts/cluster.sh</c>: a real redis-server, N silo processes clustered through it, each with its
/// frontend on its own port, and nginx in front of them — the docker-compose topology, as processes. Auth is on, as in
/// production: the cluster gets a fresh signing key and API key, and tests mint their tokens with them.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private readonly string _directory;
    private readonly Dictionary<string, string> _environment;

    private ProcessCluster(string directory, Dictionary<string, string> environment, Uri balancer, IReadOnlyList<Uri> urls)
    {
        _directory = directory;
        _environment = environment;
        Balancer = balancer;
        Urls = urls;
    }

    /// <summary>The balancer (nginx) in front of every silo: the one URL a browser uses.</summary>
    public Uri Balancer { get; }

    /// <summary>Each silo's own frontend, by index.</summary>
    public IReadOnlyList<Uri> Urls { get; }

    /// <summary>The API key publishers of tenant <c>default</c> send as <c>X-Api-Key</c>.</summary>
    public string ApiKey => _environment["COUNTCACHULA_API_KEY"];

    /// <summary>A subscriber's token for tenant <c>default</c>, signed with the cluster's key, for every tag.</summary>
    public string Token() =>
        CountCachula.AspNetCore.Hosting.CountCachulaAccess.MintToken(_environment["COUNTCACHULA_SIGNING_KEY"], "default", TimeSpan.FromHours(1), tags: ["*"]);

    /// <summary>An operator's token (the <c>admin</c> scope: diagnostics, dashboard) for tenant <c>default</c>.</summary>
    public string AdminToken() =>
        CountCachula.AspNetCore.Hosting.CountCachulaAccess.MintToken(_environment["COUNTCACHULA_SIGNING_KEY"], "default", TimeSpan.FromHours(1), admin: true);

    /// <summary>
    /// Starts the cluster. Its ports are taken below the OS's ephemeral range: a port the OS just handed out (as
    /// <see cref="FreePorts"/> does) can be handed out again as the source port of any outgoing connection on this busy
    /// machine before the silo binds it. A start that fails anyway (a port taken meanwhile) is tried once more.
    /// </summary>
    public static async Task<ProcessCluster> StartAsync(int silos)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await TryStartAsync(silos);
            }
            catch (Xunit.Sdk.XunitException) when (attempt < 2)
            {
                // cluster.sh stopped what it had started; try again on other ports.
            }
        }
    }

    private static async Task<ProcessCluster> TryStartAsync(int silos)
    {
        var directory = Directory.CreateTempSubdirectory("countcachula-cluster-").FullName;
        var environment = new Dictionary<string, string>
        {
            ["CLUSTER_DIR"] = directory,
            ["CLUSTER_ID"] = "crash-" + Guid.NewGuid().ToString("N")[..8],
            ["REDIS_PORT"] = StablePort().ToString(),
            ["BALANCER_PORT"] = StablePort().ToString(),
            ["HTTP_PORTS"] = string.Join(' ', Enumerable.Range(0, silos).Select(_ => StablePort())),
            ["SILO_PORTS"] = string.Join(' ', Enumerable.Range(0, silos).Select(_ => StablePort())),
            ["GATEWAY_PORTS"] = string.Join(' ', Enumerable.Range(0, silos).Select(_ => StablePort())),
            ["COUNTCACHULA_SIGNING_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48)),
            ["COUNTCACHULA_API_KEY"] = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)),
            // The same build the tests run against.
            ["CONFIGURATION"] = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug",
        };
        var output = await RunScriptAsync(environment, TimeSpan.FromMinutes(3), "up", silos.ToString());
        var urls = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("http://", StringComparison.Ordinal)).Select(l => new Uri(l.Trim())).ToArray();
        Assert.True(urls.Length == silos + 1, $"Starting the cluster: expected the balancer's URL and {silos} silo URLs from cluster.sh, got:\n{output}");
        return new ProcessCluster(directory, environment, urls[0], urls[1..]);
    }

    /// <summary>A port between 20000 and 32000 (below Linux's ephemeral range) that nothing listens on right now.</summary>
    private static int StablePort()
    {
        while (true)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            try
            {
                using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Any, port);
                probe.Start();
                return port;
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Taken; draw another.
            }
        }
    }

    /// <summary>kill -9 silo <paramref name="index"/>.</summary>
    public Task KillAsync(int index) => RunScriptAsync(_environment, TimeSpan.FromSeconds(30), "kill", index.ToString());

    /// <summary>The silo the hub grain of <c>default</c> is active on, as silo <paramref name="index"/> sees it.</summary>
    public async Task<(string Silo, string HubSilo)> SiloOfAsync(HttpClient http, int index)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Urls[index], "/api/cache-events/diagnostics"));
        request.Headers.Authorization = new("Bearer", AdminToken());
        using var response = await http.SendAsync(request);
        var diagnostics = await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<Diagnostics>();
        return (diagnostics!.Silo, diagnostics.HubSilo);
    }

    /// <summary>The cluster's state folder (logs, pid files); kept after the test when COUNTCACHULA_KEEP_CLUSTER is set.</summary>
    public string Folder => _directory;

    public string Log(int index) => File.Exists(Path.Combine(_directory, $"silo{index}.log")) ? File.ReadAllText(Path.Combine(_directory, $"silo{index}.log")) : "";

    public async ValueTask DisposeAsync()
    {
        await RunScriptAsync(_environment, TimeSpan.FromSeconds(60), "down");
        if (Environment.GetEnvironmentVariable("COUNTCACHULA_KEEP_CLUSTER") is not null)
        {
            return;
        }

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
