using System.Diagnostics;

namespace CountCachula.Bench;

/// <summary>
/// The bare C epoll server (<c>bench/floor/floor-hub.c</c>), compiled with <c>cc -O2</c> when a run asks for it: the
/// floor on this machine, so a figure of ours can be read next to what no framework at all achieves in the same run.
/// </summary>
internal static class FloorHub
{
    /// <summary>Compiles the floor server into a fresh temporary directory and returns the executable's path, or null when there is no C compiler.</summary>
    public static async Task<string?> CompileAsync()
    {
        var source = Path.Combine(AppContext.BaseDirectory, "floor", "floor-hub.c");
        if (!File.Exists(source))
        {
            throw new FileNotFoundException("The floor server's source was not copied next to the benchmark.", source);
        }

        var directory = Directory.CreateTempSubdirectory("countcachula-floor-");
        var executable = Path.Combine(directory.FullName, "floor-hub");
        var start = new ProcessStartInfo("cc") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-O2", "-o", executable, source })
        {
            start.ArgumentList.Add(arg);
        }

        Process? compiler;
        try
        {
            compiler = Process.Start(start);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No cc on PATH.
            directory.Delete(recursive: true);
            return null;
        }

        using (compiler)
        {
            if (compiler is null)
            {
                return null;
            }

            var errors = compiler.StandardError.ReadToEndAsync();
            await compiler.WaitForExitAsync();
            if (compiler.ExitCode != 0)
            {
                throw new InvalidOperationException($"cc failed on {source}: {await errors}");
            }
        }

        return executable;
    }

    /// <summary>Removes the temporary directory <see cref="CompileAsync"/> made.</summary>
    public static void Delete(string executable)
    {
        try
        {
            Directory.Delete(Path.GetDirectoryName(executable)!, recursive: true);
        }
        catch (IOException)
        {
            // A temporary directory left behind is harmless.
        }
    }
}
