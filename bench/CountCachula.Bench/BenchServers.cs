using System.Globalization;

namespace CountCachula.Bench;

/// <summary>Starting and stopping what a run measures, for every mode of the tool.</summary>
internal static class BenchServers
{
    /// <summary>
    /// Starts what <see cref="BenchOptions.Hub"/> names (the floor, compiled now; the baseline; or
    /// <see cref="BenchOptions.Silos"/> hub processes as one cluster; nothing with <see cref="BenchOptions.Url"/>), hands
    /// them to <paramref name="run"/>, and stops them however it ends. Null, after saying so, when the floor is asked
    /// for on a machine without a C compiler.
    /// </summary>
    public static async Task<T?> RunAsync<T>(BenchOptions options, Func<List<ServerProcess>, Task<T>> run)
        where T : class
    {
        var servers = new List<ServerProcess>();
        string? floorExecutable = null;
        try
        {
            if (options.Hub == "floor" && options.Url is null)
            {
                floorExecutable = await FloorHub.CompileAsync();
                if (floorExecutable is null)
                {
                    Console.WriteLine("hub=floor skipped: no C compiler (cc) on PATH");
                    return null;
                }

                servers.Add(await ServerProcess.StartAsync(floorExecutable, [], options.Verbose, TimeSpan.FromSeconds(10), "floor"));
            }
            else if (options.Url is null)
            {
                var clusterId = "bench-" + Guid.NewGuid().ToString("N")[..8];
                for (var s = 0; s < options.Silos; s++)
                {
                    servers.Add(options.Hub == "baseline"
                        ? await ServerProcess.StartAsync("CountCachula.Bench", [], options.Verbose, TimeSpan.FromSeconds(90), clusterId, firstArgs: ["--serve-baseline"])
                        : await ServerProcess.StartAsync("CountCachula.WebFrontend", options.ServerArgs, options.Verbose, TimeSpan.FromSeconds(90), clusterId, s == 0 ? null : servers[0].SiloPort));
                }
            }

            return await run(servers);
        }
        finally
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }

            if (floorExecutable is not null)
            {
                FloorHub.Delete(floorExecutable);
            }
        }
    }

    /// <summary>
    /// Throws when this process may not hold <paramref name="sockets"/> streams at once (plus a margin for the runtime,
    /// the publisher's connections and the server's pipes): better said at the start than as a pile of failed connects.
    /// </summary>
    public static void EnsureOpenFiles(long sockets)
    {
        const int margin = 500;
        var limit = OpenFileLimit();
        if (limit is { } files && sockets + margin > files)
        {
            throw new ArgumentException(
                $"{sockets.ToString("N0", CultureInfo.InvariantCulture)} streams need about {(sockets + margin).ToString("N0", CultureInfo.InvariantCulture)} open files; " +
                $"this process may have {files.ToString("N0", CultureInfo.InvariantCulture)} (ulimit -n).");
        }
    }

    /// <summary>This process's soft limit on open files (the runtime raises it to the hard one at start), or null when unknown or unlimited.</summary>
    private static long? OpenFileLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                    return long.TryParse(soft, CultureInfo.InvariantCulture, out var files) ? files : null;
                }
            }
        }
        catch (IOException)
        {
            // Not Linux, or no /proc: the connects will say so themselves.
        }

        return null;
    }
}
