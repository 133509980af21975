using System.Collections.Concurrent;
using CountCachula.AspNetCore.Delivery;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Frontend;

public sealed class WriterShardTests
{
    [Fact]
    public async Task A_shard_that_cannot_keep_up_holds_back_whoever_hands_it_events_and_then_runs_them_in_order()
    {
        // A shard of its own: nothing else in the process can queue on it.
        var shard = new WriterShards(1)[0];
        using var started = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var ran = new ConcurrentQueue<int>();

        // The shard is held inside one event, as if its connections took all its time.
        shard.Deliver(new Probe(() =>
        {
            started.Set();
            release.Wait(Timeouts.Default);
        }));
        Assert.True(started.Wait(Timeouts.Default), "The shard never started the first event.");

        // One more event than the shard may hold: handing over the last one cannot finish while it is held.
        var handed = 0;
        var producer = Task.Factory.StartNew(
            () =>
            {
                for (var i = 0; i <= WriterShard.MaxQueuedEvents; i++)
                {
                    var number = i;
                    shard.Deliver(new Probe(() => ran.Enqueue(number)));
                    Interlocked.Increment(ref handed);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        Assert.True(SpinWait.SpinUntil(() => shard.WaitingProducers > 0, Timeouts.Default), "Nobody waited for room in a full shard.");
        Assert.False(producer.IsCompleted);
        Assert.True(Volatile.Read(ref handed) <= WriterShard.MaxQueuedEvents, $"{handed} events were queued on a shard that holds {WriterShard.MaxQueuedEvents}.");
        Assert.Empty(ran);

        release.Set();
        await producer.WaitAsync(Timeouts.Default);
        Assert.True(SpinWait.SpinUntil(() => ran.Count == WriterShard.MaxQueuedEvents + 1, Timeouts.Default), $"Only {ran.Count} events ran.");
        Assert.Equal(Enumerable.Range(0, WriterShard.MaxQueuedEvents + 1), ran);
    }

    private sealed class Probe(Action run) : EventDelivery(owner: null)
    {
        protected override void Offer(bool writeNow) => run();
    }
}
