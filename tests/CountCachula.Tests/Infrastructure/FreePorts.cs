using System.Net;
using System.Net.Sockets;

namespace CountCachula.Tests.Infrastructure;

/// <summary>Ports the OS just handed out, for silos (Orleans needs to know its endpoint before it listens).</summary>
public static class FreePorts
{
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
