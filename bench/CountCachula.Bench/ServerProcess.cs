using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace CountCachula.Bench;

/// <summary>
/// The hub under test as its own process (the real frontend with its embedded silo), so its memory and CPU can be
/// read from /proc apart from the load generator's.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, Uri url, int siloPort)
    {
        _process = process;
        Url = url;
        SiloPort = siloPort;
    }

    public Uri Url { get; }

    public int SiloPort { get; }

    public int Id => _process.Id;

    public static async Task<ServerProcess> StartAsync(string executable, IEnumerable<string> args, bool verbose, TimeSpan timeout, string clusterId, int? primarySiloPort = null, IEnumerable<string>? firstArgs = null)
    {
        var port = FreePort();
        var siloPort = FreePort();
        var url = new Uri($"http://127.0.0.1:{port}");
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, executable))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };

        // The tiered-compilation worker normally exits after 4 s without work and a new one starts with the next; kept
        // alive (hex milliseconds, ~24 days), its thread's CPU time in /proc is all the tiering done (JitCpuTime).
        start.Environment["DOTNET_TC_BackgroundWorkerTimeoutMs"] = "7FFFFFFF";
        foreach (var arg in (firstArgs ?? []).Concat(new[]
        {
            "--urls", url.ToString(),
            "--environment", "Production",
            "--Logging:LogLevel:Default", "Warning",
            "--Orleans:SiloPort", siloPort.ToString(),
            "--Orleans:GatewayPort", FreePort().ToString(),
            "--Orleans:ClusterId", clusterId,

            // The load comes from one address without credentials: measure delivery, not the door.
            "--CountCachula:Auth:Enabled", "false",
            "--CountCachula:MaxConnectionsPerIp", "0",
        }).Concat(primarySiloPort is { } primary ? ["--Orleans:PrimarySiloPort", primary.ToString()] : []).Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        process.OutputDataReceived += (_, e) => { if (verbose && e.Data is not null) Console.Error.WriteLine("[hub] " + e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine("[hub] " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var server = new ServerProcess(process, url, siloPort);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The hub exited with code {process.ExitCode} while starting.");
            }

            try
            {
                // Readiness, not the demo page: the hub runs in Production, where the samples are not mapped.
                using var response = await http.GetAsync(new Uri(url, "/health/ready"));
                if (response.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (deadline.Elapsed > timeout)
            {
                await server.DisposeAsync();
                throw new TimeoutException($"The hub did not answer on {url} within {timeout}.");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Resident memory of the hub process, in bytes.</summary>
    public long ResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
            }
        }

        return 0;
    }

    /// <summary>CPU time the hub process has used so far (user + system).</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    /// <summary>
    /// utime + stime of the hub process (all its threads) straight from <c>/proc/&lt;pid&gt;/stat</c>, fields 14 and 15,
    /// in clock ticks of 1/100 s (Linux reports them in USER_HZ, which is 100 on every architecture .NET runs on).
    /// </summary>
    public TimeSpan ProcStatCpuTime() => StatCpuTime($"/proc/{_process.Id}/stat");

    /// <summary>
    /// The part of <see cref="ProcStatCpuTime"/> spent by the runtime's tiered-compilation worker (the thread named
    /// ".NET Tiered Compilation Worker", truncated by the kernel to 15 characters): a fresh process keeps recompiling
    /// hot methods for minutes, and what only timers call crosses the call-count threshold last, so this is start-up
    /// cost showing through an idle measurement.
    /// </summary>
    public TimeSpan JitCpuTime()
    {
        var total = TimeSpan.Zero;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{_process.Id}/task"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).StartsWith(".NET Tiered Com", StringComparison.Ordinal))
                {
                    total += StatCpuTime(Path.Combine(task, "stat"));
                }
            }
            catch (IOException)
            {
                // The thread ended while being read.
            }
        }

        return total;
    }

    private static TimeSpan StatCpuTime(string path)
    {
        var stat = File.ReadAllText(path);

        // The command name (field 2) is in parentheses and may contain spaces: count fields after its closing one.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
