using CountCachula.WebFrontend.Connections;

namespace CountCachula.Tests.Frontend;

public sealed class ConnectionRegistryTests
{
    [Fact]
    public void Registering_the_same_connection_twice_keeps_one_entry()
    {
        var registry = new ConnectionRegistry();
        var connection = new SseConnection("c1", "default", 16, () => { });

        Assert.True(registry.Add(connection));
        Assert.False(registry.Add(connection));

        Assert.Equal(1, registry.Count);
        Assert.Single(registry.Snapshot("default"));
        Assert.True(registry.Remove(connection));
        Assert.False(registry.Remove(connection));
        Assert.Equal(0, registry.Count);
        Assert.Empty(registry.Snapshot("default"));
    }

    [Fact]
    public void Tenants_are_kept_apart()
    {
        var registry = new ConnectionRegistry();
        registry.Add(new SseConnection("same-id", "a", 16, () => { }));
        registry.Add(new SseConnection("same-id", "b", 16, () => { }));

        Assert.Equal(2, registry.Count);
        Assert.Equal("a", Assert.Single(registry.Snapshot("a")).Tenant);
        Assert.Equal("b", Assert.Single(registry.Snapshot("b")).Tenant);
    }

    [Fact]
    public void A_connection_whose_queue_overflows_is_aborted_once()
    {
        var aborts = 0;
        var connection = new SseConnection("slow", "default", 16, () => aborts++);
        var frame = CountCachula.WebFrontend.Streaming.SseFrame.Heartbeat;

        for (var i = 0; i < 16; i++)
        {
            Assert.True(connection.TryEnqueue(frame));
        }

        Assert.False(connection.TryEnqueue(frame));
        Assert.False(connection.TryEnqueue(frame));
        Assert.True(connection.Overflowed);
        Assert.Equal(1, aborts);
    }
}
