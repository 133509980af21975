using System.Net;
using System.Net.Sockets;

namespace CountCachula.WebFrontend;

/// <summary>
/// The quick start listens on 5080 (web), 11111 (silo) and 30000 (gateway). On a box where another program holds one
/// of them, Kestrel and Orleans each log a stack trace and the runtime prints the exception again; the check here,
/// before either starts, names the port and the argument that moves it in one line instead.
/// </summary>
public static partial class FrontendHost
{
    /// <summary>
    /// The ports this configuration would listen on that another program already holds, as one sentence that says how
    /// to choose others; <see langword="null"/> when none is taken. A port taken between this check and the start
    /// still fails the start, as before.
    /// </summary>
    internal static string? PortsInUse(IConfiguration configuration)
    {
        var taken = new List<(int Port, string Use, string Instead)>();
        foreach (var url in WebAddresses(configuration))
        {
            var address = BindingAddress.Parse(url);
            if (!address.IsUnixPipe && address.Port > 0 && InUse(ListeningAddress(address.Host), address.Port))
            {
                taken.Add((address.Port, $"(the web server, {url})", $"--urls {address.Scheme}://{address.Host}:{Suggest(address.Port, 10)}"));
            }
        }

        if (!IsClientMode(configuration))
        {
            // Localhost membership listens on loopback, a real cluster on every address (ConfigureClustering).
            var orleans = configuration.GetSection("Orleans");
            var local = !OrleansConfiguresClustering(orleans)
                && orleans.GetValue("Membership", "Localhost")!.Equals("Localhost", StringComparison.OrdinalIgnoreCase);
            foreach (var (setting, fallback) in new[] { ("SiloPort", 11111), ("GatewayPort", 30000) })
            {
                var port = OrleansPort(orleans, setting, fallback);
                if (port > 0 && InUse(local ? IPAddress.Loopback : IPAddress.Any, port))
                {
                    taken.Add((port, $"(Orleans:{setting})", $"--Orleans:{setting} {Suggest(port, 1)}"));
                }
            }
        }

        if (taken.Count == 0)
        {
            return null;
        }

        var what = taken.Count == 1
            ? $"port {taken[0].Port} {taken[0].Use} is"
            : $"ports {string.Join(", ", taken[..^1].Select(t => $"{t.Port} {t.Use}"))} and {taken[^1].Port} {taken[^1].Use} are";
        return $"{what} in use by another program; choose others with {string.Join(" ", taken.Select(t => t.Instead))} (after -- with dotnet run; README.md, \"Ports\").";
    }

    /// <summary>
    /// Kestrel's addresses: <c>urls</c> (<c>--urls</c>, <c>ASPNETCORE_URLS</c>, a launch profile's
    /// <c>applicationUrl</c>), else <c>http_ports</c> (<c>ASPNETCORE_HTTP_PORTS</c>, as in the container image), else
    /// Kestrel's own default. Endpoints under <c>Kestrel:Endpoints</c> are left to Kestrel.
    /// </summary>
    private static IEnumerable<string> WebAddresses(IConfiguration configuration)
    {
        if (configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            return [];
        }

        static string[] List(string? value) => value?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        var urls = List(configuration["urls"]);
        if (urls.Length > 0)
        {
            return urls;
        }

        var ports = List(configuration["http_ports"]);
        return ports.Length > 0 ? ports.Select(p => $"http://*:{p}") : ["http://localhost:5000"];
    }

    /// <summary><c>localhost</c> is loopback; an IP address is itself; <c>*</c>, <c>+</c> or a host name is every address.</summary>
    private static IPAddress ListeningAddress(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
        : IPAddress.TryParse(host, out var ip) ? ip
        : IPAddress.Any;

    /// <summary>Whether binding <paramref name="port"/> fails because another socket holds it (.NET binds as Kestrel and Orleans do).</summary>
    private static bool InUse(IPAddress address, int port)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return true;
        }
        catch (SocketException)
        {
            // Not ours to judge (no such address here, a privileged port): the start itself reports it.
            return false;
        }
    }

    private static int Suggest(int port, int step) => port + step <= IPEndPoint.MaxPort ? port + step : port - step;
}
