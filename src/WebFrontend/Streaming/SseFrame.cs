using System.Buffers;
using System.Text;

namespace CountCachula.WebFrontend.Streaming;

/// <summary>
/// One SSE event, encoded once per silo and written as the same bytes to every connection that receives it.
/// </summary>
public sealed class SseFrame
{
    private SseFrame(byte[] bytes, DateTime publishedAtUtc)
    {
        Bytes = bytes;
        PublishedAtUtc = publishedAtUtc;
    }

    /// <summary>The UTF-8 bytes of the event, ending with the blank line that dispatches it.</summary>
    public ReadOnlyMemory<byte> Bytes { get; }

    /// <summary>When the hub accepted the event; <see cref="DateTime.MinValue"/> for frames the frontend makes itself.</summary>
    public DateTime PublishedAtUtc { get; }

    /// <summary>The heartbeat the specification prescribes.</summary>
    public static SseFrame Heartbeat { get; } = Create(id: null, "heartbeat", "ping");

    /// <summary>
    /// Encodes an event. <paramref name="data"/> must not contain CR, LF or NUL: every tag, route and name is checked
    /// for that before it enters the hub, so nothing here can add a field to the stream.
    /// </summary>
    public static SseFrame Create(string? id, string eventName, string data, int? retryMilliseconds = null, DateTime publishedAtUtc = default)
    {
        var writer = new ArrayBufferWriter<byte>(64 + data.Length);
        if (retryMilliseconds is { } retry)
        {
            Append(writer, "retry: ");
            Append(writer, retry.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Append(writer, "\n");
        }

        if (id is not null)
        {
            Append(writer, "id: ");
            Append(writer, id);
            Append(writer, "\n");
        }

        Append(writer, "event: ");
        Append(writer, eventName);
        Append(writer, "\ndata: ");
        Append(writer, data);
        Append(writer, "\n\n");
        return new SseFrame(writer.WrittenSpan.ToArray(), publishedAtUtc);
    }

    /// <summary>The frame of a hub event in the default wire format of the <c>@countcachula/core</c> client.</summary>
    public static SseFrame From(CacheEvent cacheEvent)
    {
        var name = cacheEvent.Kind switch
        {
            CacheEventKind.Invalidate => "invalidate",
            CacheEventKind.PreloadHint => "preload-hint",
            _ => throw new ArgumentOutOfRangeException(nameof(cacheEvent), cacheEvent.Kind, "Unknown event kind."),
        };

        var id = cacheEvent.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Create(id, name, string.Join(',', cacheEvent.Items), publishedAtUtc: cacheEvent.PublishedAtUtc);
    }

    private static void Append(ArrayBufferWriter<byte> writer, string text)
    {
        var span = writer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        writer.Advance(Encoding.UTF8.GetBytes(text, span));
    }
}
