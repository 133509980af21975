using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// One SSE event, encoded once per silo and written as the same bytes to every connection that receives it.
/// </summary>
internal sealed class SseFrame
{
    private SseFrame(ReadOnlySpan<byte> bytes, DateTime publishedAtUtc, long sequence, FrameKind kind, IReadOnlyList<string>? tags)
    {
        // Stored once as an HTTP/1.1 chunk ("size CRLF bytes CRLF"), so a stream that writes its own chunked body sends
        // the frame as it is, and every other writer takes the bytes inside.
        var head = $"{bytes.Length:x}\r\n";
        var chunk = new byte[head.Length + bytes.Length + 2];
        Encoding.ASCII.GetBytes(head, chunk);
        bytes.CopyTo(chunk.AsSpan(head.Length));
        chunk[^2] = (byte)'\r';
        chunk[^1] = (byte)'\n';
        Chunk = chunk;
        Bytes = Chunk[head.Length..^2];
        PublishedAtUtc = publishedAtUtc;
        Sequence = sequence;
        Kind = kind;
        Tags = tags;
    }

    /// <summary>What the frame carries, which decides what may happen to it when its client reads too slowly.</summary>
    public FrameKind Kind { get; }

    /// <summary>For an invalidation, the tags it names; a slow client's pending invalidations are merged from these.</summary>
    public IReadOnlyList<string>? Tags { get; }

    /// <summary>The hub sequence of the event; 0 for frames the frontend makes itself (connected, heartbeat, reset).</summary>
    public long Sequence { get; }

    /// <summary>The UTF-8 bytes of the event, ending with the blank line that dispatches it.</summary>
    public ReadOnlyMemory<byte> Bytes { get; }

    /// <summary><see cref="Bytes"/> framed as one chunk of a chunked HTTP/1.1 body.</summary>
    public ReadOnlyMemory<byte> Chunk { get; }

    /// <summary>When the hub accepted the event; <see cref="DateTime.MinValue"/> for frames the frontend makes itself.</summary>
    public DateTime PublishedAtUtc { get; }

    /// <summary>
    /// The hops of the live event this frame carries, reported at its first write; null for frames the frontend makes
    /// itself and for replays. Set by the dispatcher before the frame is queued on any connection.
    /// </summary>
    public HopTimeline? Timeline { get; set; }

    /// <summary>The heartbeat the specification prescribes.</summary>
    public static SseFrame Heartbeat { get; } = Create(id: null, "heartbeat", "ping");

    /// <summary>
    /// Encodes an event. <paramref name="data"/> must not contain CR or NUL, and LF only separates data lines: every tag,
    /// route, name and custom payload is checked for that before it enters the hub, so nothing here can add a field.
    /// </summary>
    public static SseFrame Create(string? id, string eventName, string data, int? retryMilliseconds = null, DateTime publishedAtUtc = default, long sequence = 0) =>
        Create(id, eventName, data, retryMilliseconds, publishedAtUtc, sequence, FrameKind.Control, tags: null);

    private static SseFrame Create(string? id, string eventName, string data, int? retryMilliseconds, DateTime publishedAtUtc, long sequence, FrameKind kind, IReadOnlyList<string>? tags)
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
        Append(writer, "\n");
        foreach (var line in data.Split('\n'))
        {
            // Each line of the data is its own field; EventSource joins them with LF again.
            Append(writer, "data: ");
            Append(writer, line);
            Append(writer, "\n");
        }

        Append(writer, "\n");
        return new SseFrame(writer.WrittenSpan, publishedAtUtc, sequence, kind, tags);
    }

    /// <summary>
    /// The frame of a hub event for connections of <paramref name="format"/> that receive <paramref name="items"/>
    /// (for an invalidation: the tags that matched their interests; otherwise the event's routes).
    /// </summary>
    public static SseFrame From(CacheEvent cacheEvent, IReadOnlyList<string> items, SseFormat format)
    {
        var id = cacheEvent.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return cacheEvent.Kind switch
        {
            CacheEventKind.Invalidate => Create(id, "invalidate", Join(items, format, tags: true), null, cacheEvent.PublishedAtUtc, cacheEvent.Sequence, FrameKind.Invalidate, items),
            CacheEventKind.PreloadHint => Create(id, format == SseFormat.Json ? "preload" : "preload-hint", Join(items, format, tags: false), null, cacheEvent.PublishedAtUtc, cacheEvent.Sequence, FrameKind.PreloadHint, null),
            CacheEventKind.Custom => Create(id, cacheEvent.EventName!, cacheEvent.Data!, null, cacheEvent.PublishedAtUtc, cacheEvent.Sequence, FrameKind.Custom, null),
            _ => throw new ArgumentOutOfRangeException(nameof(cacheEvent), cacheEvent.Kind, "Unknown event kind."),
        };
    }

    /// <summary>An invalidation made by the frontend (a replay's union of missed tags), carrying id <paramref name="sequence"/>.</summary>
    public static SseFrame Invalidation(IReadOnlyList<string> tags, SseFormat format, long sequence) =>
        Create(sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), "invalidate", Join(tags, format, tags: true), null, default, sequence, FrameKind.Invalidate, tags);

    private static string Join(IReadOnlyList<string> items, SseFormat format, bool tags) => format == SseFormat.Json
        ? JsonSerializer.Serialize(items, FrameJson.Default.IReadOnlyListString)
        : string.Join(',', items.Select(tags ? (Func<string, string>)EncodeTag : EncodeRoute));

    /// <summary>
    /// In the comma-joined format a tag's <c>%</c> becomes <c>%25</c> and its <c>,</c> becomes <c>%2C</c>, and nothing
    /// else changes: so <c>a,b</c> and <c>a%2Cb</c> stay two different tags on the wire, and <c>decodeURIComponent</c>
    /// of each comma-separated piece gives the tag back exactly. Tags without either character go out as they are.
    /// </summary>
    internal static string EncodeTag(string tag) =>
        tag.AsSpan().IndexOfAny('%', ',') < 0 ? tag : tag.Replace("%", "%25", StringComparison.Ordinal).Replace(",", "%2C", StringComparison.Ordinal);

    /// <summary>
    /// A route is a URL, where <c>%2C</c> and <c>,</c> mean the same to the server, so only its commas are escaped:
    /// escaping its <c>%</c> too would break routes that are already percent-encoded.
    /// </summary>
    private static string EncodeRoute(string route) =>
        route.Contains(',') ? route.Replace(",", "%2C", StringComparison.Ordinal) : route;

    private static void Append(ArrayBufferWriter<byte> writer, string text)
    {
        var span = writer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        writer.Advance(Encoding.UTF8.GetBytes(text, span));
    }
}

/// <summary>What an <see cref="SseFrame"/> carries.</summary>
internal enum FrameKind
{
    /// <summary>Made by the frontend: connected, heartbeat, reset.</summary>
    Control,

    /// <summary>An invalidation: may be merged with other pending invalidations of a slow client.</summary>
    Invalidate,

    /// <summary>A preload hint: may be dropped for a slow client.</summary>
    PreloadHint,

    /// <summary>An application's custom event: dropped for a client too slow to take it.</summary>
    Custom,
}

[JsonSerializable(typeof(IReadOnlyList<string>))]
internal sealed partial class FrameJson : JsonSerializerContext;
