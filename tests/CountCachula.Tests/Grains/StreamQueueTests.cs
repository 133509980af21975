using CountCachula.Runtime.Queues;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Grains;

/// <summary>
/// The queues under the hub's streams: a read waits in the queue and is answered by the next append (this is what
/// lets an event reach the pulling agent without waiting for its timer), and nothing is forgotten until acknowledged.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class StreamQueueTests(ClusterFixture fixture)
{
    // Longer than a test waits for anything (Timeouts.Default) and shorter than the cluster's response timeout: a
    // read that ends within Timeouts.Default was woken by the append, not by its own wait running out.
    private static readonly TimeSpan LongWait = Timeouts.Default + TimeSpan.FromSeconds(8);

    [Fact]
    public async Task A_waiting_read_is_answered_by_the_next_append()
    {
        var queue = NewQueue();
        var first = await queue.Read(0, 0, 10, TimeSpan.Zero, CancellationToken.None);
        var waiting = queue.Read(first.Incarnation, 0, 10, LongWait, CancellationToken.None);

        await queue.Enqueue(Batch("a"));
        var read = await waiting.WaitAsync(Timeouts.Default);

        Assert.Equal(first.Incarnation, read.Incarnation);
        Assert.Equal(["a"], read.Messages.Select(Name));
    }

    [Fact]
    public async Task Batches_stay_until_a_later_read_acknowledges_them()
    {
        var queue = NewQueue();
        await queue.Enqueue(Batch("a"));
        await queue.Enqueue(Batch("b"));

        var first = await queue.Read(0, 0, 1, TimeSpan.Zero, CancellationToken.None);
        var unacknowledged = await queue.Read(0, 0, 10, TimeSpan.Zero, CancellationToken.None);
        var afterFirst = await queue.Read(first.Incarnation, first.Messages[0].Sequence, 10, TimeSpan.Zero, CancellationToken.None);
        var afterAll = await queue.Read(first.Incarnation, afterFirst.Messages[^1].Sequence, 10, TimeSpan.Zero, CancellationToken.None);

        Assert.Equal(["a"], first.Messages.Select(Name));
        Assert.Equal(["a", "b"], unacknowledged.Messages.Select(Name));
        Assert.Equal(["b"], afterFirst.Messages.Select(Name));
        Assert.Empty(afterAll.Messages);
        Assert.True(afterFirst.Messages[0].Sequence > first.Messages[0].Sequence);
    }

    [Fact]
    public async Task An_acknowledgement_meant_for_another_activation_forgets_nothing()
    {
        var queue = NewQueue();
        await queue.Enqueue(Batch("a"));
        var read = await queue.Read(0, 0, 10, TimeSpan.Zero, CancellationToken.None);

        var again = await queue.Read(read.Incarnation + 1, long.MaxValue, 10, TimeSpan.Zero, CancellationToken.None);

        Assert.Equal(["a"], again.Messages.Select(Name));
    }

    [Fact]
    public async Task A_cancelled_read_ends_empty_and_the_next_append_waits_for_the_next_reader()
    {
        var queue = NewQueue();
        using var stop = new CancellationTokenSource();
        var waiting = queue.Read(0, 0, 10, LongWait, stop.Token);

        await stop.CancelAsync();
        CacheQueueRead? cancelled = null;
        try
        {
            cancelled = await waiting.WaitAsync(Timeouts.Default);
        }
        catch (OperationCanceledException)
        {
            // The caller's own cancellation may win the race with the queue's empty answer; both end the read.
        }

        await queue.Enqueue(Batch("a"));
        var next = await queue.Read(0, 0, 10, TimeSpan.Zero, CancellationToken.None);

        Assert.Empty(cancelled?.Messages ?? []);
        Assert.Equal(["a"], next.Messages.Select(Name));
    }

    [Fact]
    public async Task A_queue_nobody_reads_refuses_appends_at_its_bound()
    {
        var queue = NewQueue();
        for (var i = 0; i < CacheQueueLimits.MaxMessages; i += 1024)
        {
            await Task.WhenAll(Enumerable.Range(i, 1024).Select(n => queue.Enqueue(Batch($"e{n}"))));
        }

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => queue.Enqueue(Batch("one too many")));

        Assert.Contains("unread batches", refused.Message);
    }

    private ICacheQueueGrain NewQueue() => fixture.Client.GetGrain<ICacheQueueGrain>($"tests/{Guid.NewGuid():N}");

    private static CacheQueueMessage Batch(string name) =>
        new(StreamId.Create("tests", name), [name], requestContext: null, sequence: 0);

    private static string Name(CacheQueueMessage message) => (string)message.Events[0];
}
