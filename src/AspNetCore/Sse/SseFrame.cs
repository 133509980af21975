using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CountCachula.AspNetCore.Diagnostics;

namespace CountCachula.AspNetCore.Sse;

/// <summary>
/// One SSE event, encoded once per silo and written as the same bytes to every connection that receives it.
/// </summary>
/// <remarks>
/// An event's frame of <see cref="PooledFrom"/> bytes or more (a big custom event) is encoded into a buffer rented from
/// a pool of its own rather than a new array, which past 85,000 bytes would each be a large-object-heap allocation that
/// only a full collection frees (and that fragments that heap). Such a frame counts its holders: whoever made it holds
/// it once, each connection that queues it holds it until its write ended or it was dropped (<see cref="Retain"/>,
/// <see cref="Release"/>), and the buffer goes back to the pool when the last lets go. Every other frame is an
/// ordinary array, and holding or releasing it does nothing.
/// </remarks>
internal sealed class SseFrame
{
    /// <summary>The size from which a frame made with pooling asked for is encoded into a pooled buffer.</summary>
    internal const int PooledFrom = 16 * 1024;

    // Buffers up to 8 MiB are pooled, at most 16 of each size (power of two): under a flood of big events only a few
    // are in use at a time (they are shared by every stream), and what the pool keeps afterwards is bounded.
    private static readonly ArrayPool<byte> s_pool = ArrayPool<byte>.Create(8 * 1024 * 1024, 16);
    private static long s_rentedBytes;
    private static long s_pooledBytesMade;

    private byte[]? _rented;
    private int _holders;

    private SseFrame(byte[] chunk, int headLength, int length, bool rented, DateTime publishedAtUtc, long sequence, FrameKind kind, IReadOnlyList<string>? tags, bool hasId, bool fromHistory)
    {
        Chunk = chunk.AsMemory(0, headLength + length + 2);
        Bytes = chunk.AsMemory(headLength, length);
        if (rented)
        {
            _rented = chunk;
            _holders = 1;
            Pooled = true;
            Interlocked.Add(ref s_rentedBytes, chunk.Length);
            Interlocked.Add(ref s_pooledBytesMade, length);
        }

        HasId = hasId;
        FromHistory = fromHistory;
        PublishedAtUtc = publishedAtUtc;
        Sequence = sequence;
        Kind = kind;
        Tags = tags;
    }

    /// <summary>How many bytes of pooled buffers frames hold right now (for tests and diagnostics).</summary>
    internal static long RentedBytes => Interlocked.Read(ref s_rentedBytes);

    /// <summary>How many bytes of pooled (big) frames this process has made so far (see <c>BigEventRelief</c>).</summary>
    internal static long PooledBytesMade => Interlocked.Read(ref s_pooledBytesMade);

    /// <summary>How many hold a pooled frame right now (0 once its buffer went back); 0 for any other frame.</summary>
    internal int Holders => Volatile.Read(ref _holders);

    /// <summary>True when the bytes are in a pooled buffer, which goes back once every holder released the frame.</summary>
    public bool Pooled { get; }

    /// <summary>One more holder of a pooled frame (nothing for any other): it must <see cref="Release"/> it once done.</summary>
    public void Retain()
    {
        if (Pooled && Interlocked.Increment(ref _holders) <= 1)
        {
            throw new InvalidOperationException("A pooled frame was held again after its last holder released it.");
        }
    }

    /// <summary>One holder of a pooled frame is done with it; the last gives its buffer back to the pool.</summary>
    public void Release()
    {
        if (!Pooled)
        {
            return;
        }

        var left = Interlocked.Decrement(ref _holders);
        if (left == 0 && Interlocked.Exchange(ref _rented, null) is { } buffer)
        {
            Interlocked.Add(ref s_rentedBytes, -buffer.Length);
            s_pool.Return(buffer);
        }
        else if (left < 0)
        {
            throw new InvalidOperationException("A pooled frame was released more often than it was held.");
        }
    }

    /// <summary>What the frame carries, which decides what may happen to it when its client reads too slowly.</summary>
    public FrameKind Kind { get; }

    /// <summary>For an invalidation, the tags it names; a slow client's pending invalidations are merged from these.</summary>
    public IReadOnlyList<string>? Tags { get; }

    /// <summary>The hub sequence of the event; 0 for frames the frontend makes itself (connected, heartbeat, reset).</summary>
    public long Sequence { get; }

    /// <summary>True when the frame carries an <c>id:</c> line (a late event's frame does not).</summary>
    public bool HasId { get; }

    /// <summary>
    /// True for an event this server read from the history (a recovery) or received out of order, rather than live
    /// from its inbox: it does not go to streams that opened well after it was published.
    /// </summary>
    public bool FromHistory { get; }

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

    /// <summary>
    /// The last frame of a stream this server ends while it stops: a comment saying why and the reconnection delay, so
    /// the browser comes back (through the balancer, to another server) after <paramref name="retryMilliseconds"/>.
    /// </summary>
    public static SseFrame Reconnect(int retryMilliseconds) =>
        Raw(Encoding.ASCII.GetBytes($": this server is stopping; reconnect\nretry: {retryMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}\n\n"));

    /// <summary>The heartbeat (<c>event: heartbeat</c>, <c>data: ping</c>) that keeps proxies from closing an idle stream.</summary>
    public static SseFrame Heartbeat { get; } = Create(id: null, "heartbeat", "ping");

    /// <summary>
    /// Encodes an event. <paramref name="data"/> must not contain CR or NUL, and LF only separates data lines: every tag,
    /// route, name and custom payload is checked for that before it enters the hub, so nothing here can add a field.
    /// </summary>
    public static SseFrame Create(string? id, string eventName, string data, int? retryMilliseconds = null, DateTime publishedAtUtc = default, long sequence = 0) =>
        Create(id, eventName, data, retryMilliseconds, publishedAtUtc, sequence, FrameKind.Control, tags: null, pooled: false, fromHistory: false);

    /// <summary>A frame of bytes already encoded (a comment, a <c>retry:</c>).</summary>
    private static SseFrame Raw(byte[] bytes)
    {
        var head = ChunkHeadLength(bytes.Length);
        var chunk = new byte[head + bytes.Length + 2];
        WriteChunkHead(chunk, bytes.Length);
        bytes.CopyTo(chunk.AsSpan(head));
        chunk[^2] = (byte)'\r';
        chunk[^1] = (byte)'\n';
        return new SseFrame(chunk, head, bytes.Length, rented: false, default, 0, FrameKind.Control, null, hasId: false, fromHistory: false);
    }

    /// <summary>
    /// Encodes the event straight into its chunk ("size CRLF bytes CRLF"), sized exactly beforehand: so a stream that
    /// writes its own chunked body sends the frame as it is, every other writer takes the bytes inside, and nothing is
    /// allocated on the way but the chunk (nor that, from <see cref="PooledFrom"/> bytes on, when <paramref name="pooled"/>).
    /// </summary>
    private static SseFrame Create(string? id, string eventName, string data, int? retryMilliseconds, DateTime publishedAtUtc, long sequence, FrameKind kind, IReadOnlyList<string>? tags, bool pooled, bool fromHistory)
    {
        var utf8 = Encoding.UTF8;
        var retry = retryMilliseconds?.ToString(System.Globalization.CultureInfo.InvariantCulture);

        // Each line of the data is its own field ("data: " line LF, EventSource joins them with LF again), then the
        // blank line: 6 bytes per line more than the data, plus 2.
        var lines = data.AsSpan().Count('\n') + 1;
        var length = (retry is null ? 0 : 8 + retry.Length)
            + (id is null ? 0 : 5 + utf8.GetByteCount(id))
            + 8 + utf8.GetByteCount(eventName)
            + (6 * lines) + utf8.GetByteCount(data) + 2;
        var head = ChunkHeadLength(length);
        var total = head + length + 2;
        var rent = pooled && total >= PooledFrom;
        var chunk = rent ? s_pool.Rent(total) : new byte[total];
        var span = chunk.AsSpan();
        WriteChunkHead(span, length);
        var at = head;
        if (retry is not null)
        {
            Put(span, ref at, "retry: "u8);
            Put(span, ref at, retry);
            span[at++] = (byte)'\n';
        }

        if (id is not null)
        {
            Put(span, ref at, "id: "u8);
            Put(span, ref at, id);
            span[at++] = (byte)'\n';
        }

        Put(span, ref at, "event: "u8);
        Put(span, ref at, eventName);
        span[at++] = (byte)'\n';
        var rest = data.AsSpan();
        while (true)
        {
            var end = rest.IndexOf('\n');
            Put(span, ref at, "data: "u8);
            Put(span, ref at, end < 0 ? rest : rest[..end]);
            span[at++] = (byte)'\n';
            if (end < 0)
            {
                break;
            }

            rest = rest[(end + 1)..];
        }

        span[at++] = (byte)'\n';
        span[at++] = (byte)'\r';
        span[at++] = (byte)'\n';
        System.Diagnostics.Debug.Assert(at == total, "The frame's size was computed wrong.");
        return new SseFrame(chunk, head, length, rent, publishedAtUtc, sequence, kind, tags, hasId: id is not null, fromHistory);
    }

    private static int ChunkHeadLength(int length) => (64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)length | 1) + 3) / 4 + 2;

    private static void WriteChunkHead(Span<byte> span, int length)
    {
        length.TryFormat(span, out var used, "x", System.Globalization.CultureInfo.InvariantCulture);
        span[used] = (byte)'\r';
        span[used + 1] = (byte)'\n';
    }

    private static void Put(Span<byte> span, ref int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(span[at..]);
        at += bytes.Length;
    }

    private static void Put(Span<byte> span, ref int at, ReadOnlySpan<char> text) => at += Encoding.UTF8.GetBytes(text, span[at..]);

    /// <summary>
    /// The frame of a hub event for connections of <paramref name="format"/> that receive <paramref name="items"/>
    /// (for an invalidation: the tags that matched their interests; otherwise the event's routes). Without
    /// <paramref name="withId"/> (a late event) it has no <c>id:</c> line, so the browser's last event id stays as it is.
    /// </summary>
    /// <remarks>
    /// With <paramref name="pooled"/> a big frame's bytes are in a pooled buffer: the caller holds it once and must
    /// <see cref="Release"/> it when done (see the class remarks).
    /// </remarks>
    public static SseFrame From(CacheEvent cacheEvent, IReadOnlyList<string> items, SseFormat format, bool withId = true, bool fromHistory = false, bool pooled = false)
    {
        var id = withId ? cacheEvent.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        return cacheEvent.Kind switch
        {
            CacheEventKind.Invalidate => Create(id, "invalidate", Join(items, format, tags: true), null, cacheEvent.PublishedAtUtc, cacheEvent.Sequence, FrameKind.Invalidate, items, pooled, fromHistory),
            CacheEventKind.PreloadHint => Create(id, format == SseFormat.Json ? "preload" : "preload-hint", Join(items, format, tags: false), null, cacheEvent.PublishedAtUtc, cacheEvent.Sequence, FrameKind.PreloadHint, null, pooled, fromHistory),
            CacheEventKind.Custom => Create(id, cacheEvent.EventName!, cacheEvent.Data!, null, cacheEvent.PublishedAtUtc, cacheEvent.Sequence, FrameKind.Custom, null, pooled, fromHistory),
            _ => throw new ArgumentOutOfRangeException(nameof(cacheEvent), cacheEvent.Kind, "Unknown event kind."),
        };
    }

    /// <summary>
    /// An invalidation made by the frontend (a replay's union of missed tags), carrying id <paramref name="sequence"/>;
    /// no id when it is 0 (it stands only for late events, which carry none).
    /// </summary>
    public static SseFrame Invalidation(IReadOnlyList<string> tags, SseFormat format, long sequence) =>
        Create(sequence == 0 ? null : sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), "invalidate", Join(tags, format, tags: true), null, default, sequence, FrameKind.Invalidate, tags, pooled: false, fromHistory: false);

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
