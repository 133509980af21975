using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using CountCachula.WebFrontend.Interests;
using CountCachula.WebFrontend.Streaming;

namespace CountCachula.WebFrontend.Connections;

/// <summary>
/// One open SSE stream. Frames are queued by whoever produces them (stream subscriber, heartbeat) and written by
/// exactly one loop, which writes everything queued and then flushes once, so a burst costs one flush.
/// </summary>
public sealed class SseConnection
{
    private readonly Channel<SseFrame> _queue;
    private readonly Action _abort;
    private readonly CountCachulaMetrics? _metrics;
    private int _overflowed;

    /// <param name="id">The id the browser learns from the <c>connected</c> event.</param>
    /// <param name="tenant">The tenant whose events the connection receives.</param>
    /// <param name="capacity">How many frames may wait before the connection is given up as too slow.</param>
    /// <param name="abort">Aborts the underlying HTTP request.</param>
    /// <param name="format">The wire format the client asked for.</param>
    /// <param name="interests">What the connection listens for at first (<c>*</c> when the client named nothing).</param>
    /// <param name="metrics">Where publish-to-write latency is recorded, if anywhere.</param>
    public SseConnection(string id, string tenant, int capacity, Action abort, SseFormat format = SseFormat.Default, IEnumerable<Interest>? interests = null, CountCachulaMetrics? metrics = null)
    {
        _metrics = metrics;
        Id = id;
        Tenant = tenant;
        Format = format;
        Interests = [.. interests ?? [Interest.All]];
        _abort = abort;
        _queue = Channel.CreateBounded<SseFrame>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>The connection id, unique within the cluster.</summary>
    public string Id { get; }

    /// <summary>The tenant whose events the connection receives.</summary>
    public string Tenant { get; }

    /// <summary>The wire format the client asked for.</summary>
    public SseFormat Format { get; }

    /// <summary>
    /// What the connection listens for. Changed only under <see cref="InterestGate"/> by the interest endpoint,
    /// which keeps the interest index and the silo's stream subscriptions in step.
    /// </summary>
    public HashSet<Interest> Interests { get; }

    /// <summary>Serializes changes to <see cref="Interests"/> with each other and with the connection's removal.</summary>
    internal SemaphoreSlim InterestGate { get; } = new(1, 1);

    /// <summary>True once the connection left the registry; its interests may no longer change.</summary>
    internal bool Closed { get; set; }

    /// <summary>True once the client fell so far behind that the connection was aborted.</summary>
    public bool Overflowed => Volatile.Read(ref _overflowed) == 1;

    /// <summary>
    /// Queues <paramref name="frame"/> without waiting. When the queue is full the client is not keeping up: the
    /// connection is aborted so the browser reconnects, instead of holding other deliveries or memory hostage.
    /// </summary>
    public bool TryEnqueue(SseFrame frame)
    {
        if (_queue.Writer.TryWrite(frame))
        {
            return true;
        }

        if (Interlocked.Exchange(ref _overflowed, 1) == 0)
        {
            _queue.Writer.TryComplete();
            _abort();
        }

        return false;
    }

    /// <summary>
    /// Writes <paramref name="first"/> (the connected event and any replay), then queued frames, to
    /// <paramref name="output"/> until the client goes away or a write fails. Queued events up to
    /// <paramref name="replayedThrough"/> were covered by the replay and are skipped, so the boundary between replay
    /// and live has neither a gap nor a duplicate.
    /// </summary>
    public async Task RunAsync(PipeWriter output, IReadOnlyList<SseFrame> first, long replayedThrough, CancellationToken cancellationToken)
    {
        var reader = _queue.Reader;
        try
        {
            foreach (var frame in first)
            {
                output.Write(frame.Bytes.Span);
            }

            var flushed = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushed.IsCompleted || flushed.IsCanceled)
            {
                return;
            }

            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var now = DateTime.UtcNow;
                while (reader.TryRead(out var frame))
                {
                    if (frame.Sequence == 0 || frame.Sequence > replayedThrough)
                    {
                        output.Write(frame.Bytes.Span);
                        if (frame.Sequence != 0)
                        {
                            _metrics?.Written(frame.PublishedAtUtc, now);
                        }
                    }
                }

                var flush = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client disconnected: the normal end of an SSE stream.
        }
        catch (IOException)
        {
            // A write failed because the connection broke; the caller removes the connection all the same.
        }
        finally
        {
            _queue.Writer.TryComplete();
        }
    }
}
