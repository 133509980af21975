using System.Net;
using System.Net.Sockets;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Product;

/// <summary>
/// A newcomer's box may already use the quick start's ports (5080, 11111, 30000): the start then fails in one line on
/// stderr naming the port and the argument that moves it, not with Kestrel's or Orleans' stack traces.
/// </summary>
public sealed class PortsInUseTests
{
    [Theory]
    [InlineData("web")]
    [InlineData("SiloPort")]
    [InlineData("GatewayPort")]
    public async Task A_taken_port_is_one_line_naming_it_and_how_to_choose_another(string which)
    {
        using var other = new TcpListener(IPAddress.Loopback, 0);
        other.Start();
        var taken = ((IPEndPoint)other.LocalEndpoint).Port;
        var web = which == "web" ? taken : FreePorts.Next();
        var silo = which == "SiloPort" ? taken : FreePorts.Next();
        var gateway = which == "GatewayPort" ? taken : FreePorts.Next();

        await using var app = AppProcess.StartExecutable(
        [
            "--environment", "Development",
            "--urls", $"http://localhost:{web}",
            "--Orleans:SiloPort", silo.ToString(),
            "--Orleans:GatewayPort", gateway.ToString(),
        ]);

        Assert.Equal(2, await app.ExitAsync());
        var line = Assert.Single(app.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"CountCachula did not start: port {taken} (", line);
        Assert.Contains("in use by another program", line);
        Assert.Contains(which == "web" ? $"--urls http://localhost:{taken + 10}" : $"--Orleans:{which} {taken + 1}", line);
        Assert.DoesNotContain("Exception", app.Stdout + app.Stderr);
    }
}
