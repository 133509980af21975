using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.Tests.Frontend;

public sealed class ConnectionRegistryTests
{
    [Fact]
    public void Registering_the_same_connection_twice_keeps_one_entry()
    {
        var registry = new ConnectionRegistry(new WriterShards());
        var connection = new SseConnection(registry.WriterShards, "c1", "default", 16);

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
        var registry = new ConnectionRegistry(new WriterShards());
        registry.Add(new SseConnection(registry.WriterShards, "same-id", "a", 16));
        registry.Add(new SseConnection(registry.WriterShards, "same-id", "b", 16));

        Assert.Equal(2, registry.Count);
        Assert.Equal("a", Assert.Single(registry.Snapshot("a")).Tenant);
        Assert.Equal("b", Assert.Single(registry.Snapshot("b")).Tenant);
    }

    [Fact]
    public async Task A_connection_that_falls_behind_gets_one_merged_invalidation_and_keeps_its_newest_frames()
    {
        // The writer has not started (RunAsync not called), exactly like a client whose flush is stuck: frames pile up.
        var connection = new SseConnection(new WriterShards(), "slow", "default", capacity: 4);
        for (var sequence = 1; sequence <= 9; sequence++)
        {
            var cacheEvent = new CacheEvent
            {
                Tenant = "default",
                Sequence = sequence,
                Kind = sequence % 3 == 0 ? CacheEventKind.PreloadHint : CacheEventKind.Invalidate,
                Items = sequence % 3 == 0 ? [$"/route/{sequence}"] : [$"tag-{sequence}", "shared"],
                PublishedAtUtc = DateTime.UtcNow,
            };
            Assert.True(connection.TryEnqueue(SseFrame.From(cacheEvent, cacheEvent.Items, SseFormat.Default)));
        }

        // 9 frames through a bound of 4: two coalescings; what is left is the merged invalidation plus the last frame.
        Assert.Equal(2, connection.Coalescings);
        Assert.Equal(2, connection.Dropped);
        Assert.Equal(2, connection.PendingCount);

        var pipe = new System.IO.Pipelines.Pipe();
        using var stop = new CancellationTokenSource();
        var running = connection.RunAsync(pipe.Writer, [SseFrame.Create(null, "connected", "{}")], 0, stop.Token);
        var text = await ReadUntilAsync(pipe.Reader, "id: 9\n");
        await stop.CancelAsync();
        await running.WaitAsync(Timeouts.Default);

        Assert.Equal(
            "event: connected\ndata: {}\n\n" +
            "id: 8\nevent: invalidate\ndata: tag-1,shared,tag-2,tag-4,tag-5,tag-7,tag-8\n\n" +
            "id: 9\nevent: preload-hint\ndata: /route/9\n\n",
            text);
    }

    private static async Task<string> ReadUntilAsync(System.IO.Pipelines.PipeReader reader, string marker)
    {
        var text = new System.Text.StringBuilder();
        using var timeout = new CancellationTokenSource(Timeouts.Default);
        while (true)
        {
            var result = await reader.ReadAsync(timeout.Token);
            foreach (var segment in result.Buffer)
            {
                text.Append(System.Text.Encoding.UTF8.GetString(segment.Span));
            }

            reader.AdvanceTo(result.Buffer.End);
            var soFar = text.ToString();
            var at = soFar.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0 && soFar.IndexOf("\n\n", at, StringComparison.Ordinal) >= 0)
            {
                return soFar;
            }
        }
    }
}
