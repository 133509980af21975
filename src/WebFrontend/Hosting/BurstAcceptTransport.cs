using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// Kestrel's socket transport for TCP endpoints on Linux, except that each endpoint listens on several sockets
/// (<c>SO_REUSEPORT</c>), so that a burst of stream opens has several accept queues to wait in instead of one.
/// </summary>
/// <remarks>
/// <para>
/// A connection waits in the kernel's accept queue until the process takes it. That queue holds at most
/// <c>net.core.somaxconn</c> connections (4096 on most hosts, whatever the backlog asked for), and every SYN that finds
/// it full is dropped: the client's connect is retried only after 1 s (then 3 s, 7 s...). A client that dials
/// thousands of streams at once (every page reconnecting after a deploy) fills 4096 places in about 100 ms, and the
/// process is not accepting for that long whenever the runtime pauses for a garbage collection (130–300 ms while
/// thousands of new streams are being set up) or its thread pool is behind (an accept that found the queue empty
/// completes through the thread pool, after every request already queued).
/// </para>
/// <para>
/// With <c>SO_REUSEPORT</c> the kernel spreads new connections over the sockets of the group, each with a queue of its
/// own. The port must be free, as for Kestrel's own bind: it is checked before the group binds, so that another process
/// cannot end up sharing it.
/// </para>
/// </remarks>
internal sealed class BurstAcceptTransportFactory(IOptions<SocketTransportOptions> options, IConfiguration configuration, ILoggerFactory loggerFactory)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    // Kestrel builds its connection factory's options from the transport's (memory pool, FIN on error...) with a
    // constructor it keeps internal; without it (another Kestrel version) Kestrel's own listener is used.
    private static readonly ConstructorInfo? s_factoryOptions = typeof(SocketConnectionFactoryOptions).GetConstructor(
        BindingFlags.Instance | BindingFlags.NonPublic, [typeof(SocketTransportOptions)]);

    private readonly int _sockets = configuration.GetValue("Kestrel:ListenSockets", 8);

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint && OperatingSystem.IsLinux() && _sockets > 1 && s_factoryOptions is not null;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var transport = options.Value;
        var logger = loggerFactory.CreateLogger("Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets");
        var factory = new SocketConnectionContextFactory((SocketConnectionFactoryOptions)s_factoryOptions!.Invoke([transport]), logger);
        return ValueTask.FromResult<IConnectionListener>(new Listener(Bind((IPEndPoint)endpoint, transport), transport.NoDelay, factory));
    }

    private Socket[] Bind(IPEndPoint endpoint, SocketTransportOptions transport)
    {
        // The probe fails as Kestrel's bind would when the port is taken, and picks the port when 0 was asked for.
        try
        {
            using var probe = transport.CreateBoundListenSocket(endpoint);
            endpoint = (IPEndPoint)probe.LocalEndPoint!;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException(e.Message, e);
        }

        var sockets = new Socket[_sockets];
        try
        {
            for (var i = 0; i < sockets.Length; i++)
            {
                var socket = sockets[i] = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                if (endpoint.Address.Equals(IPAddress.IPv6Any))
                {
                    socket.DualMode = true;
                }

                socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
                socket.Bind(endpoint);
                socket.Listen(transport.Backlog);
            }
        }
        catch (Exception e)
        {
            foreach (var socket in sockets)
            {
                socket?.Dispose();
            }

            throw e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } ? new AddressInUseException(e.Message, e) : e;
        }

        return sockets;
    }

    private sealed class Listener : IConnectionListener
    {
        private readonly Socket[] _sockets;
        private readonly bool _noDelay;
        private readonly SocketConnectionContextFactory _factory;
        private readonly Channel<Socket> _accepted = Channel.CreateUnbounded<Socket>(new UnboundedChannelOptions { SingleReader = true });
        private readonly Task _accepting;

        public Listener(Socket[] sockets, bool noDelay, SocketConnectionContextFactory factory)
        {
            _sockets = sockets;
            _noDelay = noDelay;
            _factory = factory;
            EndPoint = sockets[0].LocalEndPoint!;
            _accepting = Task.WhenAll(sockets.Select(AcceptLoopAsync)).ContinueWith(_ => _accepted.Writer.TryComplete(), TaskScheduler.Default);
        }

        public EndPoint EndPoint { get; }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            var reader = _accepted.Reader;
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out var socket))
                {
                    try
                    {
                        socket.NoDelay = _noDelay;
                        return _factory.Create(socket);
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException)
                    {
                        // Gone before its transport could start.
                        socket.Dispose();
                    }
                }
            }

            return null;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }

            return default;
        }

        public async ValueTask DisposeAsync()
        {
            await UnbindAsync().ConfigureAwait(false);
            await _accepting.ConfigureAwait(false);

            // Accepted but never handed to Kestrel: nobody else will close them.
            while (_accepted.Reader.TryRead(out var socket))
            {
                socket.Dispose();
            }

            _factory.Dispose();
        }

        private async Task AcceptLoopAsync(Socket listenSocket)
        {
            while (true)
            {
                try
                {
                    _accepted.Writer.TryWrite(await listenSocket.AcceptAsync().ConfigureAwait(false));
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
                {
                    return;
                }
                catch (SocketException)
                {
                    // Reset while it waited in the queue: take the next one.
                }
            }
        }
    }
}
