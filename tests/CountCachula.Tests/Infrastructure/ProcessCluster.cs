using System.Diagnostics;
using System.Net.Http.Json;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// The cluster of <c>scripts/cluster.sh</c>: a real redis-server, N silo processes clustered through it, each with its
/// frontend on its own port, and nginx in front of them — the docker-compose topology, as processes. Auth is on, as in
/// production: the cluster gets a fresh signing key and API key, and tests mint their tokens with them. So is cluster
/// TLS: the silos listen on every address (Redis membership), so cluster.sh gives them a CA and a node certificate it
/// makes in the cluster's folder, and they take silo and gateway connections with that CA's certificates only.
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
        CountCachula.AspNetCore.Security.CountCachulaAccess.MintToken(_environment["COUNTCACHULA_SIGNING_KEY"], "default", TimeSpan.FromHours(1), tags: ["*"]);

    /// <summary>An operator's token (the <c>admin</c> scope: diagnostics, dashboard) for tenant <c>default</c>.</summary>
    public string AdminToken() =>
        CountCachula.AspNetCore.Security.CountCachulaAccess.MintToken(_environment["COUNTCACHULA_SIGNING_KEY"], "default", TimeSpan.FromHours(1), admin: true);

    /// <summary>
    /// Starts the cluster. Its ports are taken below the OS's ephemeral range: a port the OS just handed out (as
    /// <see cref="FreePorts"/> does) can be handed out again as the source port of any outgoing connection on this busy
    /// machine before the silo binds it. A start that fails anyway (a port taken meanwhile) is tried once more.
    /// </summary>
    /// <param name="silos">How many silos.</param>
    /// <param name="siloArgs">Extra command-line arguments for every silo (cluster.sh's <c>SILO_ARGS</c>).</param>
    public static async Task<ProcessCluster> StartAsync(int silos, string? siloArgs = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await TryStartAsync(silos, siloArgs);
            }
            catch (Xunit.Sdk.XunitException) when (attempt < 2)
            {
                // cluster.sh stopped what it had started; try again on other ports.
            }
        }
    }

    private static async Task<ProcessCluster> TryStartAsync(int silos, string? siloArgs)
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
        if (siloArgs is not null)
        {
            environment["SILO_ARGS"] = siloArgs;
        }

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

    /// <summary>Stops silo <paramref name="index"/> gracefully (SIGTERM), starts it again, and returns once it is ready.</summary>
    public Task RestartAsync(int index) => RunScriptAsync(_environment, TimeSpan.FromMinutes(2), "restart", index.ToString());

    /// <summary>SIGSTOP silo <paramref name="index"/>: it stays connected and answers nothing, as a hung process.</summary>
    public Task FreezeAsync(int index) => RunScriptAsync(_environment, TimeSpan.FromSeconds(30), "freeze", index.ToString());

    /// <summary>SIGCONT silo <paramref name="index"/>.</summary>
    public Task ThawAsync(int index) => RunScriptAsync(_environment, TimeSpan.FromSeconds(30), "thaw", index.ToString());

    /// <summary>
    /// Whether the process of silo <paramref name="index"/> runs: false once it is gone or a zombie (an exited process
    /// that nothing reaped yet, as cluster.sh's silos can be when they die on their own).
    /// </summary>
    public bool IsRunning(int index)
    {
        var pidFile = Path.Combine(_directory, $"silo{index}.pid");
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
        {
            return false;
        }

        try
        {
            // /proc/<pid>/stat: "pid (name) S ...", the state after the name's closing parenthesis.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X");
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Waits until the process of silo <paramref name="index"/> has exited; false when it still runs after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitExitedAsync(int index, TimeSpan timeout)
    {
        var pidFile = Path.Combine(_directory, $"silo{index}.pid");
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
        {
            return true;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            using var cts = new CancellationTokenSource(timeout);
            await process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (ArgumentException)
        {
            // Not running any more.
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The silo the hub grain of <c>default</c> is active on, as silo <paramref name="index"/> sees it.</summary>
    public async Task<(string Silo, string HubSilo)> SiloOfAsync(HttpClient http, int index)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Urls[index], "/api/cache-events/diagnostics"));
        request.Headers.Authorization = new("Bearer", AdminToken());
        using var response = await http.SendAsync(request);
        var diagnostics = await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<Diagnostics>();
        return (diagnostics!.Silo, diagnostics.HubSilo);
    }

    /// <summary>
    /// A silo to act on: one that holds the default tenant's hub, or one that does not (silos name themselves with a
    /// listener prefix, the hub by address).
    /// </summary>
    public async Task<int> PickAsync(bool holdingTheHub)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var silos = new List<string>();
        string? hubSilo = null;
        for (var i = 0; i < Urls.Count; i++)
        {
            var (silo, hub) = await SiloOfAsync(http, i);
            silos.Add(silo);
            hubSilo ??= hub;
        }

        var picked = holdingTheHub
            ? silos.FindIndex(s => s.Contains(hubSilo!, StringComparison.Ordinal))
            : silos.FindIndex(s => !s.Contains(hubSilo!, StringComparison.Ordinal));
        Assert.True(picked >= 0, $"The hub's silo {hubSilo} is not one of {string.Join(", ", silos)}.");
        return picked;
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
