using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace CountCachula.Tests.Architecture;

/// <summary>
/// The folders of <c>src/AspNetCore</c> depend one way (docs/architecture.md draws the graph): no two of them import
/// each other, and the files at its root (the options) import none. A folder imports another when one of its files has
/// a <c>using CountCachula.AspNetCore.X</c> or names <c>CountCachula.AspNetCore.X.</c> in full.
/// </summary>
public sealed partial class FolderDependencyTests
{
    private const string Root = "(root)";

    [Fact]
    public void No_two_folders_import_each_other()
    {
        var imports = FolderImports(Path.Combine(RepositoryRoot(), "src", "AspNetCore"));
        var problems = Cycles(imports);
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void A_pair_of_folders_that_import_each_other_is_named_with_its_files()
    {
        // The check itself, on a made-up tree: Alpha and Beta import each other (one by a using, one by a full name).
        var tree = Directory.CreateTempSubdirectory("countcachula-folders-");
        try
        {
            Write(tree.FullName, "Alpha/A.cs", "using CountCachula.AspNetCore.Beta;\nnamespace CountCachula.AspNetCore.Alpha;\n");
            Write(tree.FullName, "Beta/B.cs", "namespace CountCachula.AspNetCore.Beta;\nclass B { CountCachula.AspNetCore.Alpha.A? a; }\n");
            Write(tree.FullName, "Gamma/C.cs", "using CountCachula.AspNetCore.Alpha;\nnamespace CountCachula.AspNetCore.Gamma;\n");
            Write(tree.FullName, "Options.cs", "using CountCachula.AspNetCore.Gamma;\nnamespace CountCachula.AspNetCore;\n");

            var problems = Cycles(FolderImports(tree.FullName));

            Assert.Equal(2, problems.Count);
            Assert.Contains(problems, p => p.Contains("Alpha ⇄ Beta", StringComparison.Ordinal) && p.Contains("Alpha/A.cs", StringComparison.Ordinal) && p.Contains("Beta/B.cs", StringComparison.Ordinal));
            Assert.Contains(problems, p => p.Contains("(root) imports Gamma", StringComparison.Ordinal) && p.Contains("Options.cs", StringComparison.Ordinal));
        }
        finally
        {
            tree.Delete(recursive: true);
        }
    }

    /// <summary>For each folder (the root is <see cref="Root"/>), the folders it imports and the files that do.</summary>
    internal static Dictionary<string, Dictionary<string, SortedSet<string>>> FolderImports(string source)
    {
        var folders = Directory.GetDirectories(source)
            .Select(Path.GetFileName)
            .Where(name => name is not ("bin" or "obj"))
            .ToHashSet(StringComparer.Ordinal);
        var imports = new Dictionary<string, Dictionary<string, SortedSet<string>>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(source, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(source, file).Replace('\\', '/');
            var parts = relative.Split('/');
            if (parts[0] is "bin" or "obj")
            {
                continue;
            }

            var from = parts.Length > 1 ? parts[0] : Root;
            foreach (Match match in Reference().Matches(File.ReadAllText(file)))
            {
                var to = match.Groups["folder"].Value;
                if (to != from && folders.Contains(to))
                {
                    var targets = imports.TryGetValue(from, out var known) ? known : imports[from] = new(StringComparer.Ordinal);
                    (targets.TryGetValue(to, out var files) ? files : targets[to] = new(StringComparer.Ordinal)).Add(relative);
                }
            }
        }

        return imports;
    }

    /// <summary>Every pair of folders that import each other, and every folder the root imports, with the files.</summary>
    internal static List<string> Cycles(Dictionary<string, Dictionary<string, SortedSet<string>>> imports)
    {
        var problems = new List<string>();
        foreach (var (from, targets) in imports.OrderBy(i => i.Key, StringComparer.Ordinal))
        {
            foreach (var (to, files) in targets.OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                if (from == Root)
                {
                    problems.Add($"{Root} imports {to} (the root holds the options, which import no folder): {string.Join(", ", files)}");
                }
                else if (string.CompareOrdinal(from, to) < 0 && imports.TryGetValue(to, out var back) && back.TryGetValue(from, out var backFiles))
                {
                    problems.Add($"{from} ⇄ {to}: {from} → {to} in {string.Join(", ", files)}; {to} → {from} in {string.Join(", ", backFiles)}");
                }
            }
        }

        return problems;
    }

    // A using directive (plain, static or alias) or a name written in full: CountCachula.AspNetCore.<folder>.
    [GeneratedRegex(@"(?<![\w.])CountCachula\.AspNetCore\.(?<folder>\w+)\b(?=\s*[.;])")]
    private static partial Regex Reference();

    private static void Write(string root, string relative, string text)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));
}
