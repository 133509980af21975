using System.Diagnostics;
using System.IdentityModel.Tokens.Jwt;
using System.Text.RegularExpressions;

namespace CountCachula.Tests.Product;

/// <summary>
/// Every command in the README and docs/ that mints a token, run with bash from the repository root exactly as a
/// newcomer pastes it (only the signing-key placeholder filled in): it succeeds, and what it prints, or what
/// <c>TOKEN=$(…)</c> captures, is one token of the tenant it names and nothing else.
/// </summary>
public sealed partial class DocTokenCommandsTests
{
    private const string Key = "doc-commands-signing-key-0123456789abcdef";

    public static TheoryData<string, string> Commands()
    {
        var data = new TheoryData<string, string>();
        var root = AppProcess.RepositoryRoot;
        var files = new[] { Path.Combine(root, "README.md") }.Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order());
        foreach (var file in files)
        {
            foreach (var command in FindCommands(File.ReadAllText(file)))
            {
                data.Add(Path.GetRelativePath(root, file), command);
            }
        }

        return data;
    }

    [Fact]
    public void The_docs_hold_the_commands_a_newcomer_pastes()
    {
        // The scan below must keep finding them: a change in how the docs write them would otherwise test nothing.
        var found = Commands().Select(row => (string)row[1]).ToList();
        Assert.Contains(found, c => c.StartsWith("TOKEN=$(dotnet run --project src/WebFrontend --no-launch-profile -- mint-token", StringComparison.Ordinal));
        Assert.Contains(found, c => c.StartsWith("dotnet run --project src/WebFrontend --no-launch-profile -- mint-token", StringComparison.Ordinal));
        Assert.True(found.Count >= 6, $"Only {found.Count} token commands found in the docs:\n{string.Join('\n', found)}");
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task A_documented_token_command_prints_only_a_token(string file, string command)
    {
        var script = command.Replace("<the server's key>", Key, StringComparison.Ordinal);
        var captures = script.StartsWith("TOKEN=$(", StringComparison.Ordinal);
        if (captures)
        {
            script += "\nprintf '%s' \"$TOKEN\"";
        }

        var (exit, output, error) = await RunAsync(script);

        Assert.True(exit == 0, $"{file}: `{command}` exited {exit}:\n{error}");
        var printed = output.TrimEnd('\n');
        Assert.True(TokenShape().IsMatch(printed), $"{file}: `{command}` {(captures ? "captured" : "printed")} more than a token:\n{printed}");
        var tenant = TenantArgument().Match(command).Groups[1].Value;
        Assert.Equal(tenant, new JwtSecurityTokenHandler().ReadJwtToken(printed).Claims.Single(c => c.Type == "tenant").Value);
    }

    /// <summary>
    /// The mint-token commands in <paramref name="markdown"/>: whole lines of code blocks (joined across a trailing
    /// backslash, without a trailing comment) and inline code spans, that run the app with dotnet run or its executable.
    /// A commented alternative (<c># or: …</c>) counts as a command.
    /// </summary>
    internal static IEnumerable<string> FindCommands(string markdown)
    {
        var inBlock = false;
        var pending = "";
        foreach (var raw in markdown.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inBlock = !inBlock;
                continue;
            }

            if (!inBlock)
            {
                foreach (Match span in InlineCode().Matches(line))
                {
                    if (IsTokenCommand(span.Groups[1].Value))
                    {
                        yield return span.Groups[1].Value;
                    }
                }

                continue;
            }

            var code = line.Trim();
            if (code.EndsWith('\\'))
            {
                pending += code[..^1];
                continue;
            }

            code = TrailingComment().Replace(pending + code, "");
            pending = "";
            if (code.StartsWith("# or: ", StringComparison.Ordinal))
            {
                code = code["# or: ".Length..];
            }

            if (IsTokenCommand(code) && !code.StartsWith('#'))
            {
                yield return code;
            }
        }
    }

    private static bool IsTokenCommand(string code) =>
        code.Contains("mint-token --tenant", StringComparison.Ordinal)
        && (code.Contains("dotnet run --project src/WebFrontend", StringComparison.Ordinal) || code.Contains("/CountCachula.WebFrontend mint-token", StringComparison.Ordinal));

    private static async Task<(int Exit, string Output, string Error)> RunAsync(string script)
    {
        var start = new ProcessStartInfo("bash", ["-c", script])
        {
            WorkingDirectory = AppProcess.RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };

        // The docs say to export the key first (or to pass it inline, which the script then does itself).
        start.Environment["CountCachula__Auth__SigningKey"] = Key;
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{script}` did not finish within 4 minutes.");
        }

        return (process.ExitCode, await output, await error);
    }

    [GeneratedRegex(@"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    private static partial Regex TokenShape();

    [GeneratedRegex(@"--tenant (\S+)")]
    private static partial Regex TenantArgument();

    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex InlineCode();

    // A comment after the command: whitespace, then '#' (a '#' inside the command itself is never preceded by a space).
    [GeneratedRegex(@"\s+#\s.*$")]
    private static partial Regex TrailingComment();
}
