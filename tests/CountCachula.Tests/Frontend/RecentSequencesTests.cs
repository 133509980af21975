using CountCachula.AspNetCore.Streaming;

namespace CountCachula.Tests.Frontend;

/// <summary>The dedupe window: the second copy of an event is dropped, however old, until it leaves the window.</summary>
public sealed class RecentSequencesTests
{
    [Fact]
    public void A_second_copy_is_refused_even_when_older_than_the_newest()
    {
        var recent = new RecentSequences(capacity: 8);

        Assert.True(recent.Add(10));
        Assert.True(recent.Add(12));
        Assert.True(recent.Add(11));       // recovered from the history: older, but new here
        Assert.False(recent.Add(12));      // the same event from a second topic grain
        Assert.False(recent.Add(11));
    }

    [Fact]
    public void The_window_keeps_the_newest_capacity_sequences()
    {
        var recent = new RecentSequences(capacity: 3);
        foreach (var sequence in new long[] { 1, 2, 3, 4 })
        {
            recent.Add(sequence);
        }

        Assert.False(recent.Contains(1));
        Assert.True(recent.Contains(2) && recent.Contains(3) && recent.Contains(4));
        Assert.True(recent.Add(1));        // forgotten, so taken again: a duplicate at worst, never a loss
    }
}
