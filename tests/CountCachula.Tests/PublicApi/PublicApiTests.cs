using System.Reflection;
using System.Runtime.CompilerServices;
using PublicApiGenerator;

namespace CountCachula.Tests.PublicApi;

/// <summary>
/// What each package promises its users, compared with a baseline committed beside this file. A change to the public
/// surface is then a visible change to a <c>.approved.txt</c> file in review, never an accident.
/// </summary>
public sealed class PublicApiTests
{
    [Theory]
    [InlineData("CountCachula.Grains.Interfaces")]
    [InlineData("CountCachula.Runtime")]
    [InlineData("CountCachula.Grains")]
    [InlineData("CountCachula.AspNetCore")]
    [InlineData("CountCachula.Transactions")]
    public void The_public_api_matches_its_approved_baseline(string assemblyName)
    {
        var actual = Assembly.Load(assemblyName).GeneratePublicApi(new ApiGeneratorOptions
        {
            // Orleans' generated serializers (OrleansCodeGen) and assembly attributes carry no promise to users. Every
            // public type of ours placed in a Microsoft.* namespace (extension classes beside the types they extend,
            // e.g. Microsoft.AspNetCore.Http.CacheTagsHttpContextExtensions) does, so none of them is filtered out.
            DenyNamespacePrefixes = ["System", "OrleansCodeGen"],
            ExcludeAttributes =
            [
                "System.Runtime.CompilerServices.InternalsVisibleToAttribute",
                "System.Reflection.AssemblyMetadataAttribute",
                "Orleans.ApplicationPartAttribute",
                "Orleans.Serialization.Configuration.TypeManifestProviderAttribute",
            ],
        }).ReplaceLineEndings("\n");
        var approvedPath = Path.Combine(SourceDirectory(), $"{assemblyName}.approved.txt");
        var approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath).ReplaceLineEndings("\n") : "";
        if (actual == approved)
        {
            return;
        }

        var receivedPath = approvedPath.Replace(".approved.txt", ".received.txt", StringComparison.Ordinal);
        File.WriteAllText(receivedPath, actual);
        Assert.Fail(
            $"The public API of {assemblyName} changed. If the change is intended, accept it with\n" +
            $"  mv {receivedPath} {approvedPath}\n" +
            $"and commit the .approved.txt file (and document new members in the package README); otherwise make the new type or member internal.\n" +
            $"See the difference with: diff {approvedPath} {receivedPath}");
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
