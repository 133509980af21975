using System.Diagnostics;

namespace CountCachula.Tests.Infrastructure;

/// <summary>A real redis-server on a free port, without persistence, that a test can pause, resume or restart empty.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(FreePorts.Next());
        await server.LaunchAsync();
        return server;
    }

    /// <summary>Freezes the process (SIGSTOP): connections stay open, nothing is answered, the data is kept.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>Lets a paused process run again (SIGCONT).</summary>
    public void Resume() => Signal("CONT");

    /// <summary>Kills the process and starts a new one on the same port: it comes back empty.</summary>
    public async Task RestartEmptyAsync()
    {
        await StopAsync();
        await LaunchAsync();
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task LaunchAsync()
    {
        var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
        {
            start.ArgumentList.Add(arg);
        }

        // redis-server says on its output when it listens; its exit before that is a failed start.
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is not { } text)
            {
                return;
            }

            output.Enqueue(text);
            if (text.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, line) => output.Enqueue(line.Data ?? "");
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"redis-server on port {Port} exited before it listened:\n{string.Join('\n', output)}"));
        process.Start();
        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(Timeouts.Default);
    }

    private async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            Signal("CONT");
            process.Kill();
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process!.Id.ToString()]);
        kill.WaitForExit();
    }
}
