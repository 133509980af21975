using System.Net.ServerSentEvents;
using System.Text;
using System.Threading.Channels;
using CountCachula.AspNetCore.Security;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// A real SSE client for tests: one HTTP GET held open, parsed by <see cref="SseParser"/>, with every raw byte kept so
/// tests can assert the exact wire format too. Events are buffered from the moment of connecting, so a test can
/// act first and read afterwards without racing the server.
/// </summary>
public sealed class SseClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly RecordingStream _body;
    private readonly Channel<SseItem<string>> _events = Channel.CreateUnbounded<SseItem<string>>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pump;
    private readonly TaskCompletionSource<bool> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SseClient(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _body = new RecordingStream(body);
        _pump = PumpAsync();
    }

    /// <summary>The response's headers and status.</summary>
    public HttpResponseMessage Response => _response;

    /// <summary>The last <c>retry:</c> value the server sent.</summary>
    public TimeSpan? Retry { get; private set; }

    /// <summary>The stream's secret from its <c>connected</c> event (read by <see cref="ConnectAndWaitAsync"/>): interest changes send it as <c>X-Stream-Key</c>.</summary>
    public string? StreamKey { get; private set; }

    /// <summary>Everything received so far, as text.</summary>
    public string RawText => _body.Text;

    /// <summary>Opens <paramref name="path"/> as EventSource would and waits for the response headers.</summary>
    public static async Task<SseClient> ConnectAsync(HttpClient http, string path, TimeSpan? timeout = null, Action<HttpRequestMessage>? configure = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeouts.Default);
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        configure?.Invoke(request);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Connecting to {path}: no response headers within {timeout ?? Timeouts.Default}.");
        }

        response.EnsureSuccessStatusCode();
        return new SseClient(response, await response.Content.ReadAsStreamAsync(cts.Token));
    }

    /// <summary>Opens the stream and reads its <c>connected</c> event.</summary>
    public static async Task<(SseClient Client, string ConnectionId)> ConnectAndWaitAsync(HttpClient http, string path = "/api/cache-events")
    {
        var client = await ConnectAsync(http, path);
        var connected = await client.NextAsync("waiting for the 'connected' event", includeHeartbeats: true);
        Assert.Equal("connected", connected.EventType);
        using var json = System.Text.Json.JsonDocument.Parse(connected.Data);
        client.StreamKey = json.RootElement.TryGetProperty("streamKey", out var key) ? key.GetString() : null;
        return (client, json.RootElement.GetProperty("connectionId").GetString()!);
    }

    /// <summary>The next event (heartbeats skipped unless asked for); the time-out message names <paramref name="phase"/>.</summary>
    public async Task<SseItem<string>> NextAsync(string phase, TimeSpan? timeout = null, bool includeHeartbeats = false)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeouts.Default);
        try
        {
            while (true)
            {
                var item = await _events.Reader.ReadAsync(cts.Token);
                if (includeHeartbeats || item.EventType != "heartbeat")
                {
                    return item;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"{phase}: no event within {timeout ?? Timeouts.Default}. Received so far:\n{RawText}");
        }
        catch (ChannelClosedException exception)
        {
            throw new InvalidOperationException($"{phase}: the stream ended. Received so far:\n{RawText}", exception);
        }
    }

    /// <summary>
    /// Publishes a unique sentinel through <paramref name="hub"/> and reads up to it, so events published before the
    /// test's action (still in flight through the streams) cannot be mistaken for its results.
    /// </summary>
    public async Task SyncAsync(CountCachula.AspNetCore.Publishing.ICacheHub hub)
    {
        var sentinel = "sync:" + Guid.NewGuid().ToString("N");
        await hub.InvalidateAsync(sentinel);
        while ((await NextAsync("reading up to the sync sentinel")).Data != sentinel)
        {
        }
    }

    /// <summary>The next event of type <paramref name="eventType"/>, skipping any other.</summary>
    public async Task<SseItem<string>> NextOfTypeAsync(string eventType, string phase, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeouts.Default);
        while (true)
        {
            var remaining = deadline - DateTime.UtcNow;
            var item = await NextAsync(phase, remaining > TimeSpan.Zero ? remaining : TimeSpan.FromMilliseconds(1), includeHeartbeats: true);
            if (item.EventType == eventType)
            {
                return item;
            }
        }
    }

    /// <summary>Completes when the server ends the stream and every event of it was read.</summary>
    public Task Completion => _events.Reader.Completion;

    /// <summary>
    /// Completes when the stream is over, read or not: true when the server ended the response body properly, false
    /// when the connection broke (or the client was disposed) first.
    /// </summary>
    public Task<bool> Ended => _ended.Task;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _response.Dispose();
        try
        {
            await _pump;
        }
        catch (Exception)
        {
            // The stream was torn down on purpose.
        }

        _stop.Dispose();
    }

    private async Task PumpAsync()
    {
        try
        {
            var parser = SseParser.Create(_body);
            await foreach (var item in parser.EnumerateAsync(_stop.Token))
            {
                Retry = parser.ReconnectionInterval;
                _events.Writer.TryWrite(item);
            }

            _events.Writer.TryComplete();
            _ended.TrySetResult(true);
        }
        catch (Exception exception)
        {
            _events.Writer.TryComplete(exception is OperationCanceledException ? null : exception);
            _ended.TrySetResult(false);
        }
    }

    private sealed class RecordingStream(Stream inner) : Stream
    {
        private readonly MemoryStream _copy = new();

        public string Text
        {
            get
            {
                lock (_copy)
                {
                    return Encoding.UTF8.GetString(_copy.GetBuffer(), 0, (int)_copy.Length);
                }
            }
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            lock (_copy)
            {
                _copy.Write(buffer.Span[..read]);
            }

            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
