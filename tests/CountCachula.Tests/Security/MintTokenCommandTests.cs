using System.Diagnostics;
using System.IdentityModel.Tokens.Jwt;

namespace CountCachula.Tests.Security;

/// <summary>
/// <c>mint-token</c>, run as a user runs it: a subscriber token must say what it may listen to, and <c>"*"</c> is how
/// to say "every tag".
/// </summary>
public sealed class MintTokenCommandTests
{
    [Fact]
    public async Task A_subscriber_token_without_tags_is_refused()
    {
        var (exit, output, error) = await RunAsync("--tenant", "acme", "--key", AuthFixture.Key);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("needs --tags", error);
    }

    [Theory]
    [InlineData("*", "*")]
    [InlineData("user:* posts:1", "user:* posts:1")]
    public async Task Tags_are_written_as_given(string tags, string claim)
    {
        var (exit, output, _) = await RunAsync("--tenant", "acme", "--tags", tags, "--key", AuthFixture.Key);

        Assert.Equal(0, exit);
        var token = new JwtSecurityTokenHandler().ReadJwtToken(output.Trim());
        Assert.Equal(claim, token.Claims.Single(c => c.Type == "tags").Value);
    }

    [Fact]
    public async Task Publisher_and_operator_tokens_need_no_tags()
    {
        var (exit, output, _) = await RunAsync("--tenant", "acme", "--publish", "--admin", "--key", AuthFixture.Key);

        Assert.Equal(0, exit);
        var token = new JwtSecurityTokenHandler().ReadJwtToken(output.Trim());
        Assert.DoesNotContain(token.Claims, c => c.Type == "tags");
        Assert.Equal("subscribe publish admin", token.Claims.Single(c => c.Type == "scope").Value);
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "CountCachula.WebFrontend.dll"));
        start.ArgumentList.Add("mint-token");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // The key comes from --key alone, whatever the machine's environment holds.
        start.Environment.Remove("CountCachula__Auth__SigningKey");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
