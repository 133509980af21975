using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.CacheTags;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CountCachula.Tests.CacheTags;

/// <summary><c>docs/client-integration.md</c> shows code that compiles and runs: the code of <see cref="DocsHost"/> and <see cref="DocsApi"/>.</summary>
public sealed class DocsSnippetTests
{
    [Fact]
    public void Every_csharp_block_of_the_walkthrough_is_code_the_tests_compile()
    {
        var root = RepositoryRoot();
        var doc = File.ReadAllText(Path.Combine(root, "docs", "client-integration.md"));
        var code = Normalize(string.Join('\n', new[] { "DocsApi.cs", "DocsHost.cs" }.Select(f => File.ReadAllText(Path.Combine(root, "tests", "CountCachula.Tests", "CacheTags", f)))));
        var blocks = doc.Split("```csharp\n").Skip(1).Select(b => b[..b.IndexOf("```", StringComparison.Ordinal)]).ToList();

        Assert.True(blocks.Count >= 4, $"expected the walkthrough's C# blocks, found {blocks.Count}");
        foreach (var block in blocks)
        {
            Assert.True(code.Contains(Normalize(block), StringComparison.Ordinal), $"This block of docs/client-integration.md is not in DocsApi.cs/DocsHost.cs:\n{block}");
        }
    }

    [Fact]
    public async Task The_host_as_documented_serves_tags_and_evicts()
    {
        await using var app = DocsHost.Build();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        using var http = new HttpClient { BaseAddress = new Uri(address) };

        using var response = await http.GetAsync("/docs/documented");

        Assert.Equal("doc:documented,docs-list,*", Assert.Single(response.Headers.GetValues("Cache-Tags")));
        Assert.True(app.Services.GetRequiredService<OutputCacheEviction>().Enabled);
        await app.StopAsync();
    }

    private static string Normalize(string text) =>
        string.Join('\n', text.Replace("\r", "").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CountCachula.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No CountCachula.sln above {AppContext.BaseDirectory}.");
    }
}
