using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CountCachula.AspNetCore;
using CountCachula.AspNetCore.Endpoints;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CountCachula.Tests.Frontend;

/// <summary>
/// Which streams write their body straight to the socket, and that such a body is a correct chunked body that Kestrel
/// ends so the connection serves the next request. A real Kestrel on 127.0.0.1 serves an endpoint that starts its
/// response as the SSE endpoint does, asks <see cref="SocketWriteEligibility"/>, and then writes its answer — the path
/// it was given — through that very path.
/// </summary>
public sealed class SocketWriteTests
{
    [Theory]
    [InlineData("plain HTTP/1.1", true, true, false, "socket")]
    [InlineData("WriteToSocket off", false, true, false, "kestrel")]
    [InlineData("inline scheduling off", true, false, false, "kestrel")]
    [InlineData("a middleware wraps the body", true, true, true, "kestrel")]
    public async Task A_stream_writes_to_its_socket_only_where_the_bytes_stay_a_plain_chunked_body(string _, bool writeToSocket, bool inlineScheduling, bool wrapBody, string expected)
    {
        await using var app = await StartAsync(writeToSocket, inlineScheduling, wrapBody);
        var connects = 0;
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            ConnectCallback = async (context, token) =>
            {
                Interlocked.Increment(ref connects);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(context.DnsEndPoint, token);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = Address(app) };

        // Twice on one connection: the first body ended cleanly (Kestrel's last chunk after ours), so the second
        // request reuses the connection.
        for (var i = 0; i < 2; i++)
        {
            using var response = await http.GetAsync("/stream");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.TransferEncodingChunked);
            Assert.Equal($"event: connected\n\nevent: path\ndata: {expected}\n\nevent: path\ndata: {expected}\n\n", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(1, connects);
    }

    [Fact]
    public async Task An_http10_stream_is_never_written_to_its_socket()
    {
        await using var app = await StartAsync(writeToSocket: true, inlineScheduling: true, wrapBody: false);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Address(app).Port));
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /stream HTTP/1.0\r\nHost: localhost\r\n\r\n"));

        // HTTP/1.0 has no chunked bodies: Kestrel sends the body as it is and closes the connection at its end.
        var received = new MemoryStream();
        var buffer = new byte[4096];
        using var reading = new CancellationTokenSource(Infrastructure.Timeouts.Default);
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, reading.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        var text = Encoding.ASCII.GetString(received.ToArray());
        Assert.StartsWith("HTTP/1.1 200", text);
        Assert.DoesNotContain("Transfer-Encoding", text, StringComparison.OrdinalIgnoreCase);
        Assert.EndsWith("event: connected\n\nevent: path\ndata: kestrel\n\nevent: path\ndata: kestrel\n\n", text);
    }

    private static Uri Address(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    private static async Task<WebApplication> StartAsync(bool writeToSocket, bool inlineScheduling, bool wrapBody)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = inlineScheduling);
        var app = builder.Build();
        if (wrapBody)
        {
            // What response compression, body logging and the like do: put their own body feature in front of Kestrel's.
            app.Use(async (context, next) =>
            {
                var kestrel = context.Features.Get<IHttpResponseBodyFeature>()!;
                context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(kestrel.Stream, kestrel));
                await next(context);
            });
        }

        var settings = new CountCachulaOptions { WriteToSocket = writeToSocket };
        app.MapGet("/stream", async context =>
        {
            context.Response.ContentType = "text/event-stream";
            context.Response.BodyWriter.Write("event: connected\n\n"u8);
            var headFlush = context.Response.BodyWriter.FlushAsync();
            var socket = SocketWriteEligibility.WriterFor(context, settings, headFlush.IsCompletedSuccessfully);
            await headFlush;
            var frame = Encoding.ASCII.GetBytes($"event: path\ndata: {(socket is null ? "kestrel" : "socket")}\n\n");
            for (var i = 0; i < 2; i++)
            {
                if (socket is null)
                {
                    await context.Response.BodyWriter.WriteAsync(frame);
                }
                else
                {
                    // One chunk, as a stream's frames go out.
                    Assert.False(await socket.SendAsync(Encoding.ASCII.GetBytes($"{frame.Length:x}\r\n").Concat(frame).Concat("\r\n"u8.ToArray()).ToArray()));
                }
            }
        });
        await app.StartAsync();
        return app;
    }
}
