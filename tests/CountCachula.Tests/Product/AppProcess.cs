using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace CountCachula.Tests.Product;

/// <summary>
/// The frontend as an operator runs it: the built executable (or <c>dotnet run</c>) in its own process, its stdout and
/// stderr captured line by line, with none of the test runner's ASP.NET Core or CountCachula environment.
/// </summary>
internal sealed partial class AppProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private volatile Uri? _address;
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private AppProcess(ProcessStartInfo start)
    {
        _process = new Process { StartInfo = start, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(_stdout, e.Data, listening: true);
        _process.ErrorDataReceived += (_, e) => OnLine(_stderr, e.Data, listening: false);
        _process.Exited += (_, _) => _listening.TrySetException(new InvalidOperationException($"The app exited before listening.\nstdout:\n{Stdout}\nstderr:\n{Stderr}"));
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The <c>configuration</c> the tests were built in, which the app under test was built in too.</summary>
    public static string Configuration => AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string RepositoryRoot
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CountCachula.sln")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? throw new InvalidOperationException("The repository root (CountCachula.sln) was not found above the test binaries.");
        }
    }

    public static string ExecutableDirectory => Path.Combine(RepositoryRoot, "src", "WebFrontend", "bin", Configuration, "net10.0");

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts the built executable with <paramref name="args"/>, from its own folder as a deployment runs it.</summary>
    public static AppProcess StartExecutable(IEnumerable<string> args, IDictionary<string, string>? environment = null) =>
        new(StartInfo(Path.Combine(ExecutableDirectory, "CountCachula.WebFrontend"), ExecutableDirectory, args, environment));

    /// <summary>Starts <c>dotnet <paramref name="args"/></c> from the repository root, as a newcomer types it.</summary>
    public static AppProcess StartDotnet(IEnumerable<string> args, IDictionary<string, string>? environment = null) =>
        new(StartInfo("dotnet", RepositoryRoot, args, environment));

    /// <summary>Waits for the host's start-up lines and returns the address of "Now listening on".</summary>
    public Task<Uri> ListeningAsync() => _listening.Task.WaitAsync(TimeSpan.FromSeconds(60));

    /// <summary>Waits for the process to exit (after output is drained) and returns its exit code.</summary>
    public async Task<int> ExitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGTERM, what <c>docker stop</c> and Kubernetes send.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()]);
        kill.WaitForExit();
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

    private static ProcessStartInfo StartInfo(string file, string directory, IEnumerable<string> args, IDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var key in start.Environment.Keys.ToArray())
        {
            if (key.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || key.StartsWith("DOTNET_ENVIRONMENT", StringComparison.Ordinal)
                || key.StartsWith("CountCachula", StringComparison.OrdinalIgnoreCase) || key.StartsWith("Orleans", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("OTEL_", StringComparison.Ordinal) || key.StartsWith("Logging__", StringComparison.Ordinal))
            {
                start.Environment.Remove(key);
            }
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        return start;
    }

    private void OnLine(StringBuilder sink, string? line, bool listening)
    {
        if (line is null)
        {
            return;
        }

        lock (sink)
        {
            sink.Append(line).Append('\n');
        }

        if (listening && ListeningLine().Match(line) is { Success: true } match)
        {
            _address = new Uri(match.Groups[1].Value);
        }

        // The host's last start-up line: the start is fully logged once it is out.
        if (listening && _address is { } address && line.Contains("Content root path", StringComparison.Ordinal))
        {
            _listening.TrySetResult(address);
        }
    }

    [GeneratedRegex("Now listening on: (http://[^\\s\"]+)")]
    private static partial Regex ListeningLine();
}
