using System.Buffers;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Delivery;

/// <summary>
/// Packs a stream's frames into HTTP chunks for its socket: those live for it (see <see cref="SseConnection.IsLive"/>)
/// copied into one buffer from the shared pool, framed by the chunk's size line and its closing line. Each frame packed
/// is recorded as written.
/// </summary>
internal static class ChunkPacker
{
    /// <summary>
    /// One chunk holding <paramref name="merged"/> and then the frames of <paramref name="frames"/> (those a replay
    /// through <paramref name="replayedThrough"/> did not cover, when given), in a buffer from the shared pool; empty
    /// when nothing is left to write.
    /// </summary>
    public static (ReadOnlyMemory<byte> Bytes, byte[]? Rented) Whole(SseConnection connection, IReadOnlyList<SseFrame> frames, SseFrame? merged, long? replayedThrough, DateTime now)
    {
        var total = merged?.Bytes.Length ?? 0;
        foreach (var frame in frames)
        {
            total += replayedThrough is not { } through || connection.IsLive(frame, through) ? frame.Bytes.Length : 0;
        }

        if (total == 0)
        {
            return (ReadOnlyMemory<byte>.Empty, null);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(total + 20);
        var span = buffer.AsSpan();
        total.TryFormat(span, out var used, "x", System.Globalization.CultureInfo.InvariantCulture);
        span[used++] = (byte)'\r';
        span[used++] = (byte)'\n';
        if (merged is not null)
        {
            merged.Bytes.Span.CopyTo(span[used..]);
            used += merged.Bytes.Length;
        }

        foreach (var frame in frames)
        {
            if (replayedThrough is not { } through || connection.IsLive(frame, through))
            {
                frame.Bytes.Span.CopyTo(span[used..]);
                used += frame.Bytes.Length;
                if (replayedThrough is not null)
                {
                    connection.Written(frame, now, now);
                }
            }
        }

        span[used++] = (byte)'\r';
        span[used++] = (byte)'\n';
        return (buffer.AsMemory(0, used), buffer);
    }

    /// <summary>
    /// One chunk of the live frames of <paramref name="frames"/> from <paramref name="start"/> on, each smaller than
    /// <paramref name="limit"/>, as many as fit in it (at least one), in a buffer from the shared pool; and the index
    /// of the first frame it left out.
    /// </summary>
    public static (ReadOnlyMemory<byte> Bytes, byte[] Rented, int End) Part(SseConnection connection, List<SseFrame> frames, int start, int limit, long replayedThrough, DateTime now)
    {
        var total = 0;
        var end = start;
        for (; end < frames.Count; end++)
        {
            var frame = frames[end];
            if (!connection.IsLive(frame, replayedThrough))
            {
                continue;
            }

            if (frame.Bytes.Length >= limit || (total > 0 && total + frame.Bytes.Length > limit))
            {
                break;
            }

            total += frame.Bytes.Length;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(total + 20);
        var span = buffer.AsSpan();
        total.TryFormat(span, out var used, "x", System.Globalization.CultureInfo.InvariantCulture);
        span[used++] = (byte)'\r';
        span[used++] = (byte)'\n';
        for (var i = start; i < end; i++)
        {
            var frame = frames[i];
            if (connection.IsLive(frame, replayedThrough))
            {
                frame.Bytes.Span.CopyTo(span[used..]);
                used += frame.Bytes.Length;
                connection.Written(frame, now, now);
            }
        }

        span[used++] = (byte)'\r';
        span[used++] = (byte)'\n';
        return (buffer.AsMemory(0, used), buffer, end);
    }
}
