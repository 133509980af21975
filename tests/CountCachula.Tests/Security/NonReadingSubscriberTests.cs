using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Sse;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Security;

/// <summary>A hub with a 2 s slow-reader grace and 256 KiB of queued frames per stream.</summary>
public sealed class NonReadingFixture : FrontendFixture
{
    public const long QueueBytes = 256 * 1024;

    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("CountCachula:SlowReaderGrace", "00:00:02"),
        new("CountCachula:ConnectionQueueBytes", QueueBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)),
    ];
}

/// <summary>
/// Subscribers that never read cannot pin the hub's memory: a custom event is capped in size, what waits for one
/// stream is bounded in bytes, and a stream whose client takes nothing for the slow-reader grace is let go, while the
/// other streams keep receiving.
/// </summary>
public sealed class NonReadingSubscriberTests(NonReadingFixture fixture) : IClassFixture<NonReadingFixture>
{
    // One line of text per event: 48 KB on the wire, which Kestrel's own rule (5 s + size at 240 bytes/s) would let
    // wait 200 s per write; only the slow-reader grace lets such a stream go within the tests' timeouts.
    private static readonly string s_bigData = new('x', 48 * 1024);

    [Fact]
    public async Task A_custom_event_over_the_cap_is_refused_with_a_problem_naming_the_limit()
    {
        // The cap counts bytes of UTF-8: 32,769 'é' are 65,538 bytes, over the default 65,536, in half as many characters.
        foreach (var data in new[] { new string('x', CustomEvents.DefaultMaxDataBytes + 1), new string('é', (CustomEvents.DefaultMaxDataBytes / 2) + 1) })
        {
            using var refused = await fixture.Http.PostAsJsonAsync("/api/cache/broadcast", new { @event = "too-big", data });
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.Equal(413, problem.RootElement.GetProperty("status").GetInt32());
            Assert.Equal(CustomEvents.DefaultMaxDataBytes, problem.RootElement.GetProperty("limit").GetInt32());
            var detail = problem.RootElement.GetProperty("detail").GetString()!;
            Assert.Contains("CountCachula:MaxCustomEventBytes", detail, StringComparison.Ordinal);
            Assert.Contains(CustomEvents.DefaultMaxDataBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), detail, StringComparison.Ordinal);
        }

        // At the cap exactly it is accepted.
        using var accepted = await fixture.Http.PostAsJsonAsync("/api/cache/broadcast", new { @event = "at-the-cap", data = new string('x', CustomEvents.DefaultMaxDataBytes) });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);

        // The hub grain refuses it too, whoever calls it, with an ArgumentException naming its own setting.
        var grain = fixture.Get<IGrainFactory>().GetGrain<ICacheHubGrain>("default");
        var thrown = await Assert.ThrowsAsync<ArgumentException>(() => grain.Publish(CachePublication.Custom("too-big", new string('x', CustomEvents.DefaultMaxDataBytes + 1))));
        Assert.Equal("data", thrown.ParamName);
        Assert.Contains("CountCachula:Hub:MaxCustomEventBytes", thrown.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1.0")]
    [InlineData("1.1")]
    public async Task A_stream_that_never_reads_is_let_go_while_the_others_keep_receiving(string version)
    {
        // Over HTTP/1.0 the body goes through Kestrel's output pipe; over HTTP/1.1 it is written straight to the socket.
        var hub = fixture.Get<ICacheHub>();
        await using var healthy = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events");
        await healthy.NextOfTypeAsync("connected", "healthy client connected");
        var (socket, _, id) = await ResponseBody.OpenStreamAsync(fixture.BaseAddress, version);
        using var silent = socket;
        var connection = fixture.Registry.Find("default", id);
        Assert.NotNull(connection);

        // Big custom events until the hub lets the silent stream go (its buffers fill within a few hundred of them).
        var maxPendingBytes = 0L;
        for (var k = 0; k < 2000 && fixture.Registry.Find("default", id) is not null; k++)
        {
            await hub.BroadcastAsync("big", s_bigData);
            maxPendingBytes = Math.Max(maxPendingBytes, connection.PendingBytes);
        }

        await fixture.Registry.UntilAsync(registry => registry.Find("default", id) is null, "the stream that never reads is let go");
        Assert.True(connection.Stalled, "The stream ended, but not because its client stopped reading.");

        // What waited for it never passed the bound, though it read nothing.
        Assert.True(maxPendingBytes <= NonReadingFixture.QueueBytes, $"{maxPendingBytes} bytes waited for the silent stream (bound {NonReadingFixture.QueueBytes}).");

        // Its connection is closed: whatever its buffers held, then the end (or a reset).
        var buffer = new byte[64 * 1024];
        using var draining = new CancellationTokenSource(Timeouts.Default);
        try
        {
            while (await silent.ReceiveAsync(buffer, SocketFlags.None, draining.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // Reset: as good as closed.
        }

        // The healthy stream is still there and still receives.
        var sentinel = "after-" + Guid.NewGuid().ToString("N");
        await hub.InvalidateAsync(sentinel);
        while (true)
        {
            var item = await healthy.NextOfTypeAsync("invalidate", "the healthy stream's sentinel after the silent one was let go");
            if (item.Data.Split(',').Contains(sentinel) || item.Data == "*")
            {
                break;
            }
        }
    }

    [Fact]
    public async Task Queued_bytes_stay_under_the_bound_and_a_stalled_pipe_lets_go_of_every_frame()
    {
        // A stream written through an output pipe nobody reads (Kestrel's flush then never completes).
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, useSynchronizationContext: false));
        var connection = new SseConnection(new WriterShards(), Guid.NewGuid().ToString("N"), "default", capacity: 1024)
        {
            MaxQueuedBytes = 128 * 1024,
            SlowReaderGrace = TimeSpan.FromMilliseconds(300),
        };
        var running = connection.RunAsync(pipe.Writer, [], 0, CancellationToken.None);

        // 40 pooled frames of ~48 KB (custom events are dropped, not merged, when the queue is full).
        var frames = new List<SseFrame>();
        var maxPendingBytes = 0L;
        for (var k = 1; k <= 40; k++)
        {
            var cacheEvent = new CacheEvent { Tenant = "default", Sequence = k, Kind = CacheEventKind.Custom, Items = [], PublishedAtUtc = DateTime.UtcNow, EventName = "big", Data = s_bigData };
            var frame = SseFrame.From(cacheEvent, [], SseFormat.Default, pooled: true);
            Assert.True(frame.Pooled);
            frames.Add(frame);
            connection.TryEnqueue(frame);
            frame.Release();
            maxPendingBytes = Math.Max(maxPendingBytes, connection.PendingBytes);
        }

        Assert.True(maxPendingBytes <= 128 * 1024, $"{maxPendingBytes} bytes waited (bound {128 * 1024}).");

        // The flush its reader never lets complete is given up after the grace: the stream ends, to be aborted.
        await running.WaitAsync(Timeouts.Default);
        Assert.True(connection.BodyBroken);
        Assert.True(connection.Stalled);
        Assert.True(connection.Dropped > 0, "Nothing was dropped: the test did not fill the queue.");

        // Every frame went back to the pool: nothing the stream held is left held.
        Assert.All(frames, frame => Assert.Equal(0, frame.Holders));
    }
}
