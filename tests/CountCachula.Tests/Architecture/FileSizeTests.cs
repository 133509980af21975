using System.Runtime.CompilerServices;

namespace CountCachula.Tests.Architecture;

/// <summary>
/// Source files stay small enough to hold one concept each: at most <see cref="Limit"/> lines. A few hold a single
/// concept that takes more; each is named below with that concept, may not pass <see cref="HardLimit"/>, and leaves the
/// list once it shrinks under the limit (so the list never goes stale).
/// </summary>
public sealed class FileSizeTests
{
    private const int Limit = 300;
    private const int HardLimit = 360;

    private static readonly Dictionary<string, string> SingleConceptFiles = new(StringComparer.Ordinal)
    {
        ["Runtime/Cluster/ClusterCredentials.cs"] = "the certificate this process presents to its cluster peers, and the rule a peer's must meet",
        ["Grains/CacheHubGrain.cs"] = "a tenant's hub: validating an event, numbering it, recording it and routing it",
        ["AspNetCore/Security/CountCachulaAuth.cs"] = "who a subscriber, a publisher or an operator is, and what each may do",
        ["AspNetCore/Streaming/TenantInbox.cs"] = "one tenant's event order on a web server: gaps, repairs, recoveries, opens",
        ["AspNetCore/Sockets/SendRing.cs"] = "one io_uring that hands the kernel many sockets' sends in one system call",
        ["AspNetCore/Sse/SseFrame.cs"] = "one SSE event encoded once and shared by every connection that receives it",
    };

    [Fact]
    public void Every_source_file_holds_one_concept_in_at_most_300_lines_or_is_named_with_it()
    {
        var src = Path.Combine(RepositoryRoot(), "src");
        var problems = new List<string>();
        foreach (var file in Directory.GetFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(src, file).Replace(Path.DirectorySeparatorChar, '/');
            if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal))
            {
                continue;
            }

            var lines = File.ReadAllLines(file).Length;
            var named = SingleConceptFiles.ContainsKey(relative);
            if (lines > HardLimit)
            {
                problems.Add($"{relative}: {lines} lines (more than {HardLimit}, even for a single concept): split it");
            }
            else if (lines > Limit && !named)
            {
                problems.Add($"{relative}: {lines} lines (more than {Limit}): split it, or name its single concept in this test");
            }
            else if (lines <= Limit && named)
            {
                problems.Add($"{relative}: {lines} lines, within {Limit}: take it off this test's list");
            }
        }

        foreach (var listed in SingleConceptFiles.Keys.Where(f => !File.Exists(Path.Combine(src, f))))
        {
            problems.Add($"{listed}: named in this test but gone");
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));
}
