using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace CountCachula.Tests.PublicApi;

/// <summary>
/// Every <c>[LoggerMessage]</c> in src carries an <c>EventId</c>, and no two of one assembly share one, so an operator can
/// filter and alert on a message by its id whatever its text becomes. Each assembly has its own thousand
/// (Grains.Interfaces 1000, Runtime 2000, Grains 3000, AspNetCore 4000, WebFrontend 5000, Transactions 6000) and each file a block of 20 in
/// it, so a message added to a file takes the next id of its block.
/// </summary>
public sealed partial class LogEventIdTests
{
    [Fact]
    public void Every_log_message_has_an_event_id_unique_in_its_assembly()
    {
        var src = Path.Combine(RepositoryRoot(), "src");
        var problems = new List<string>();
        foreach (var project in Directory.GetDirectories(src))
        {
            var seen = new Dictionary<int, string>();
            foreach (var file in Directory.GetFiles(project, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
            {
                var relative = Path.GetRelativePath(src, file);
                foreach (Match attribute in LoggerMessage().Matches(File.ReadAllText(file)))
                {
                    var id = EventId().Match(attribute.Value);
                    if (!id.Success)
                    {
                        problems.Add($"{relative}: a [LoggerMessage] without an EventId");
                        continue;
                    }

                    var value = int.Parse(id.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                    if (!seen.TryAdd(value, relative))
                    {
                        problems.Add($"{relative}: EventId {value} is already used in {seen[value]}");
                    }
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [GeneratedRegex(@"\[LoggerMessage\([^\]]*?\)\]", RegexOptions.Singleline)]
    private static partial Regex LoggerMessage();

    [GeneratedRegex(@"EventId\s*=\s*(\d+)")]
    private static partial Regex EventId();

    private static string RepositoryRoot([CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));
}
