using System.Runtime.CompilerServices;

namespace CountCachula.Tests.PublicApi;

/// <summary>
/// The snippets in docs/embedding.md (and the README's co-hosted one) are the samples' Program.cs files, which scripts/samples-check.sh builds against
/// the packed packages: this keeps the two from drifting apart, so what the document prints is what compiles.
/// </summary>
public sealed class EmbeddingDocTests
{
    [Theory]
    [InlineData("OwnApp")]
    [InlineData("WebTier")]
    [InlineData("Publisher")]
    public void The_document_prints_the_sample_program_verbatim(string sample)
    {
        var root = RepositoryRoot();
        var program = File.ReadAllText(Path.Combine(root, "samples", sample, "Program.cs")).ReplaceLineEndings("\n").TrimEnd('\n');
        var document = File.ReadAllText(Path.Combine(root, "docs", "embedding.md")).ReplaceLineEndings("\n");
        Assert.True(
            document.Contains("```csharp\n" + program + "\n```", StringComparison.Ordinal),
            $"docs/embedding.md no longer prints samples/{sample}/Program.cs verbatim; copy the file into its csharp block.");
    }

    [Fact]
    public void The_readme_prints_the_co_hosted_sample_verbatim()
    {
        // The README shows the co-hosted snippet indented inside a list item; unindented it must be OwnApp's Program.cs.
        var root = RepositoryRoot();
        var program = File.ReadAllText(Path.Combine(root, "samples", "OwnApp", "Program.cs")).ReplaceLineEndings("\n").TrimEnd('\n');
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        var indented = string.Join('\n', program.Split('\n').Select(line => line.Length == 0 ? line : "  " + line));
        Assert.True(
            readme.Contains("  ```csharp\n" + indented + "\n  ```", StringComparison.Ordinal),
            "README.md no longer prints samples/OwnApp/Program.cs verbatim in its co-hosted snippet; copy the file into it.");
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));
}
