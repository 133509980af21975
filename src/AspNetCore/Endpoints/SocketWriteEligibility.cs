using CountCachula.AspNetCore.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>Decides whether a stream may write its body straight to its socket (see <see cref="SocketChunkWriter"/>).</summary>
internal static class SocketWriteEligibility
{
    /// <summary>
    /// A writer for the rest of <paramref name="context"/>'s body on its socket, or null to keep writing through Kestrel.
    /// Asked right after the response head was flushed; <paramref name="headFlushedInline"/> says whether that flush
    /// finished before returning, which with inline scheduling means Kestrel has handed the head to the socket.
    /// </summary>
    public static SocketChunkWriter? WriterFor(HttpContext context, CountCachulaOptions settings, bool headFlushedInline)
    {
        if (!settings.WriteToSocket || !headFlushedInline || !HttpMethods.IsGet(context.Request.Method) || !HttpProtocol.IsHttp11(context.Request.Protocol))
        {
            return null;
        }

        // Bytes on the socket must be exactly the chunked body Kestrel started: no TLS under it, no middleware that
        // replaced the response body (Kestrel's own request and body features are one object), chunking by Kestrel.
        var features = context.Features;
        if (features.Get<ITlsConnectionFeature>() is not null
            || features.Get<IConnectionSocketFeature>()?.Socket is not { } socket
            || !ReferenceEquals(features.Get<IHttpResponseBodyFeature>(), features.Get<IHttpRequestFeature>())
            || !string.Equals(context.Response.Headers.TransferEncoding.ToString(), "chunked", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        // With inline scheduling Kestrel's flush hands the head to the socket before it returns; otherwise the send may
        // still be waiting for another thread, and a direct write could overtake it.
        var transport = context.RequestServices.GetService<IOptions<SocketTransportOptions>>();
        if (transport?.Value.UnsafePreferInlineScheduling != true)
        {
            return null;
        }

        try
        {
            return new SocketChunkWriter(socket, features.Get<IHttpMinResponseDataRateFeature>()?.MinDataRate, context.RequestAborted, settings.BatchSocketSends, settings.SlowReaderGrace);
        }
        catch (ObjectDisposedException)
        {
            // The connection is already closed (its client left, or the server aborted it while stopping): the
            // stream goes through Kestrel's pipe, which ends it as a stream whose client went away.
            return null;
        }
    }
}
