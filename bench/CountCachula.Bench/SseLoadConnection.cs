using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CountCachula.Bench;

/// <summary>
/// One SSE connection over a raw socket: HTTP/1.1 by hand, chunked decoding, and a scan of <c>data:</c> lines for
/// <c>bench-k</c>. No HttpClient, no strings per event, so thousands of them cost the shared box little CPU.
/// </summary>
internal sealed class SseLoadConnection(int index, DeliveryLedger ledger, bool slow = false) : IDisposable
{
    private static readonly byte[] s_connectedLine = "event: connected"u8.ToArray();
    private static readonly byte[] s_benchPrefix = "bench-"u8.ToArray();

    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[] _line = new byte[512];
    private int _lineLength;

    // Chunked decoding state: -1 while reading a size line, otherwise bytes left in the current chunk.
    private long _chunkRemaining = -1;
    private long _chunkSize;
    private bool _chunked;
    private bool _awaitingChunkCrLf;

    public Task Connected => _connected.Task;

    /// <summary>
    /// The <see cref="System.Diagnostics.Stopwatch"/> timestamp at which <c>event: connected</c> was read (0 before):
    /// taken on the reading thread, so a storm's last connection is timed without waiting for a continuation to run.
    /// </summary>
    public long ConnectedAt { get; private set; }

    public bool Failed { get; private set; }

    /// <summary>Bytes every connection of this process has read so far (to see when the hub has gone quiet).</summary>
    public static long BytesReceived => Interlocked.Read(ref s_bytesReceived);

    private static long s_bytesReceived;

    /// <summary>A slow client: after <c>connected</c> it never reads again, with a small receive buffer.</summary>
    public bool Slow => slow;

    public async Task RunAsync(IPEndPoint server, string path, CancellationToken cancellationToken)
    {
        try
        {
            if (slow)
            {
                _socket.ReceiveBufferSize = 4096;
            }

            await _socket.ConnectAsync(server, cancellationToken);
            var request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {server}\r\nAccept: text/event-stream\r\n\r\n");
            await _socket.SendAsync(request, SocketFlags.None, cancellationToken);

            var buffer = new byte[16 * 1024];
            var headers = new List<byte>(512);
            var bodyStart = -1;
            int read;
            while (bodyStart < 0)
            {
                read = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    throw new IOException("The server closed the connection before its headers.");
                }

                headers.AddRange(buffer.AsSpan(0, read));
                bodyStart = IndexOf(headers, "\r\n\r\n"u8);
            }

            var head = Encoding.ASCII.GetString(headers.ToArray(), 0, bodyStart);
            if (!head.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
            {
                throw new IOException($"The server answered: {head.Split('\r')[0]}");
            }

            _chunked = head.Contains("transfer-encoding: chunked", StringComparison.OrdinalIgnoreCase);
            Feed(headers.ToArray().AsSpan(bodyStart + 4));
            while (slow && !_connected.Task.IsCompleted)
            {
                read = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    throw new IOException("The server closed the connection before 'connected'.");
                }

                Feed(buffer.AsSpan(0, read));
            }

            if (slow)
            {
                // Stop reading: the server's send buffer and then its queue for this client fill up.
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            while ((read = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken)) > 0)
            {
                Interlocked.Add(ref s_bytesReceived, read);
                Feed(buffer.AsSpan(0, read));
            }

            // The server ended the stream. Before 'connected' (e.g. a "retry later" answer) that is a failed open, and
            // whoever waits for Connected must hear so now rather than at its time-out.
            if (_connected.TrySetException(new IOException("The server ended the stream before 'connected'.")))
            {
                Failed = true;
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or SocketException or IOException)
        {
            Failed = !cancellationToken.IsCancellationRequested;
            _connected.TrySetException(exception);
        }
    }

    public void Dispose() => _socket.Dispose();

    private void Feed(ReadOnlySpan<byte> data)
    {
        if (!_chunked)
        {
            FeedBody(data);
            return;
        }

        while (!data.IsEmpty)
        {
            if (_awaitingChunkCrLf)
            {
                // Skip the CRLF that ends a chunk's data.
                var skip = data[0] == '\r' || data[0] == '\n' ? 1 : 0;
                if (skip == 0 || data[0] == '\n')
                {
                    _awaitingChunkCrLf = false;
                }

                data = data[skip..];
                continue;
            }

            if (_chunkRemaining < 0)
            {
                var b = data[0];
                data = data[1..];
                if (b == '\n')
                {
                    _chunkRemaining = _chunkSize;
                    _chunkSize = 0;
                }
                else if (b != '\r')
                {
                    _chunkSize = (_chunkSize << 4) + HexValue(b);
                }

                continue;
            }

            var take = (int)Math.Min(_chunkRemaining, data.Length);
            FeedBody(data[..take]);
            data = data[take..];
            _chunkRemaining -= take;
            if (_chunkRemaining == 0)
            {
                _chunkRemaining = -1;
                _awaitingChunkCrLf = true;
            }
        }
    }

    private void FeedBody(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var newline = data.IndexOf((byte)'\n');
            var part = newline < 0 ? data : data[..newline];
            if (_lineLength + part.Length > _line.Length)
            {
                Array.Resize(ref _line, Math.Max(_line.Length * 2, _lineLength + part.Length));
            }

            part.CopyTo(_line.AsSpan(_lineLength));
            _lineLength += part.Length;
            if (newline < 0)
            {
                return;
            }

            OnLine(_line.AsSpan(0, _lineLength));
            _lineLength = 0;
            data = data[(newline + 1)..];
        }
    }

    private void OnLine(ReadOnlySpan<byte> line)
    {
        if (line.StartsWith("data:"u8))
        {
            var now = System.Diagnostics.Stopwatch.GetTimestamp();
            int at;
            while ((at = line.IndexOf(s_benchPrefix)) >= 0)
            {
                line = line[(at + s_benchPrefix.Length)..];
                var grouped = !line.IsEmpty && line[0] == (byte)'t';
                if (grouped)
                {
                    line = line[1..];
                }

                long number = 0;
                var digits = 0;
                while (digits < line.Length && line[digits] is >= (byte)'0' and <= (byte)'9')
                {
                    number = number * 10 + (line[digits] - '0');
                    digits++;
                }

                if (digits > 0 && grouped)
                {
                    ledger.ReceivedGroup(index, number, now);
                }
                else if (digits > 0)
                {
                    ledger.Received(index, number, now);
                }

                line = line[digits..];
            }
        }
        else if (line.SequenceEqual(s_connectedLine))
        {
            if (ConnectedAt == 0)
            {
                ConnectedAt = System.Diagnostics.Stopwatch.GetTimestamp();
            }

            _connected.TrySetResult();
        }
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => 0,
    };

    private static int IndexOf(List<byte> bytes, ReadOnlySpan<byte> value) =>
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes).IndexOf(value);
}
