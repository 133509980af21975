using CountCachula.WebFrontend.Streaming;

namespace CountCachula.Tests.Frontend;

public sealed class SiloSequenceTests
{
    private const string Silo = "silo-1";

    [Fact]
    public void Events_arriving_out_of_order_over_several_streams_are_dispatched_in_order_once()
    {
        var dispatched = new List<long>();
        var sequence = new SiloSequence(Silo, TimeSpan.FromMinutes(1), e => dispatched.Add(e.Sequence), _ => Assert.Fail("no gap expected"));
        sequence.Start(10);

        sequence.Offer(Event(14, previous: 12));   // waits for 12
        sequence.Offer(Event(12, previous: 11));   // waits for 11
        sequence.Offer(Event(11, previous: 10));   // releases 11, 12, 14
        sequence.Offer(Event(12, previous: 11));   // second copy from another stream
        sequence.Offer(Event(15, previous: 14));

        Assert.Equal([11, 12, 14, 15], dispatched);
    }

    [Fact]
    public void Events_not_addressed_to_this_silo_are_dropped()
    {
        var dispatched = new List<long>();
        var sequence = new SiloSequence(Silo, TimeSpan.FromMinutes(1), e => dispatched.Add(e.Sequence), _ => { });
        sequence.Start(0);

        sequence.Offer(Event(5, previous: 0, silo: "another-silo"));
        sequence.Offer(Event(6, previous: 0));

        Assert.Equal([6], dispatched);
    }

    [Fact]
    public void A_hub_that_lost_its_record_restarts_the_chain()
    {
        var dispatched = new List<long>();
        var sequence = new SiloSequence(Silo, TimeSpan.FromMinutes(1), e => dispatched.Add(e.Sequence), _ => { });
        sequence.Start(100);

        sequence.Offer(Event(500, previous: 0));

        Assert.Equal([500], dispatched);
    }

    [Fact]
    public async Task A_predecessor_that_never_comes_is_given_up_after_the_timeout()
    {
        var dispatched = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var skipped = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sequence = new SiloSequence(Silo, TimeSpan.FromMilliseconds(50), e => dispatched.TrySetResult(e.Sequence), missing => skipped.TrySetResult(missing));
        sequence.Start(1);

        sequence.Offer(Event(3, previous: 2));

        Assert.Equal(2, await skipped.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(3, await dispatched.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(3, sequence.Last);
    }

    [Fact]
    public async Task A_predecessor_given_up_on_that_arrives_late_is_still_dispatched_once()
    {
        var dispatched = new List<long>();
        var gap = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sequence = new SiloSequence(Silo, TimeSpan.FromMilliseconds(50), e => { lock (dispatched) { dispatched.Add(e.Sequence); } }, _ => gap.TrySetResult());
        sequence.Start(1);

        sequence.Offer(Event(4, previous: 3));
        await gap.Task.WaitAsync(TimeSpan.FromSeconds(20));
        sequence.Offer(Event(3, previous: 2));   // late, and its own predecessor is missing too
        sequence.Offer(Event(2, previous: 1));   // later still
        sequence.Offer(Event(3, previous: 2));   // a second copy
        sequence.Offer(Event(5, previous: 4));

        lock (dispatched)
        {
            Assert.Equal([4, 3, 2, 5], dispatched);
        }
    }

    [Fact]
    public async Task A_gap_is_filled_from_the_history_before_anything_is_given_up()
    {
        var dispatched = new List<long>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sequence = new SiloSequence(
            Silo,
            TimeSpan.FromMilliseconds(50),
            e => { lock (dispatched) { dispatched.Add(e.Sequence); if (e.Sequence == 5) { done.TrySetResult(); } } },
            _ => Assert.Fail("the history had the missing events"),
            (after, before) => Task.FromResult<IReadOnlyList<CacheEvent>>([.. new[] { 2L, 3, 4 }.Where(s => s > after && s < before).Select(s => Event(s, s - 1))]));
        sequence.Start(1);

        sequence.Offer(Event(5, previous: 4));   // 2, 3 and 4 were lost with a silo

        await done.Task.WaitAsync(TimeSpan.FromSeconds(20));
        lock (dispatched)
        {
            Assert.Equal([2, 3, 4, 5], dispatched);
        }
    }

    [Fact]
    public async Task A_restarted_hub_makes_the_silo_read_the_history_for_what_happened_meanwhile()
    {
        var dispatched = new List<long>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sequence = new SiloSequence(
            Silo,
            TimeSpan.FromMinutes(1),
            e => { lock (dispatched) { dispatched.Add(e.Sequence); if (e.Sequence == 9) { done.TrySetResult(); } } },
            _ => Assert.Fail("nothing was missing from the history"),
            (after, before) => Task.FromResult<IReadOnlyList<CacheEvent>>([Event(7, 6), Event(8, 7)]));
        sequence.Start(6);

        sequence.Offer(Event(9, previous: 0));   // the hub forgot what it sent us

        await done.Task.WaitAsync(TimeSpan.FromSeconds(20));
        lock (dispatched)
        {
            Assert.Equal([7, 8, 9], dispatched);
        }
    }

    private static CacheEvent Event(long sequence, long previous, string silo = Silo) => new()
    {
        Tenant = "t",
        Sequence = sequence,
        Kind = CacheEventKind.Invalidate,
        Items = ["x"],
        PublishedAtUtc = DateTime.UtcNow,
        PreviousBySilo = new Dictionary<string, long> { [silo] = previous },
    };
}
