using System.Collections.Concurrent;
using CountCachula.AspNetCore.CacheTags;
using CountCachula.Tests.Infrastructure;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;

namespace CountCachula.Tests.CacheTags;

/// <summary>
/// An output-cache store that is slow to evict (a remote one) holds back only its tenant's later events: the
/// dispatching thread is not held, so a stream of that tenant still opens at once, and when the store answers the
/// waiting events go out in order.
/// </summary>
public sealed class SlowStoreTests : IAsyncLifetime
{
    private readonly GatedStore _store = new();
    private TaggedApp _app = null!;

    public async Task InitializeAsync() => _app = await TaggedApp.StartAsync("slowstore-" + Guid.NewGuid().ToString("N")[..8], null,
        [new("CountCachula:EvictOutputCache", "true")],
        configure: builder => builder.Services.AddSingleton<IOutputCacheStore>(_store));

    public async Task DisposeAsync()
    {
        _store.Release();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task A_stream_opens_while_an_eviction_waits_and_the_held_events_then_arrive_in_order()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        await _app.Get<OutputCacheEviction>().WhenListening("default");
        var (first, _) = await SseClient.ConnectAndWaitAsync(_app.Http, $"/api/cache-events?tags=doc:slow-{id},doc:{id}");
        await using var firstStream = first;

        // The store does not answer this eviction until released; the next event of the tenant waits behind it.
        var hub = _app.Get<AspNetCore.Publishing.ICacheHub>();
        await hub.InvalidateAsync([$"doc:slow-{id}"]);
        await _store.EvictionStarted;
        await hub.InvalidateAsync([$"doc:{id}"]);

        // The tenant's order is decided under a lock that no eviction holds: a new stream of the tenant opens now.
        var (second, _) = await SseClient.ConnectAndWaitAsync(_app.Http, $"/api/cache-events?tags=doc:{id}");
        await using var secondStream = second;
        Assert.DoesNotContain($"doc:slow-{id}", firstStream.RawText);

        _store.Release();
        Assert.Equal($"doc:slow-{id}", (await firstStream.NextOfTypeAsync("invalidate", "the event whose eviction waited")).Data);
        Assert.Equal($"doc:{id}", (await firstStream.NextOfTypeAsync("invalidate", "the event held behind it")).Data);
    }

    /// <summary>An in-memory store whose evictions of tags naming <c>slow-</c> wait until <see cref="Release"/>.</summary>
    private sealed class GatedStore : IOutputCacheStore
    {
        private readonly ConcurrentDictionary<string, (byte[] Value, string[] Tags)> _entries = new(StringComparer.Ordinal);
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task EvictionStarted => _started.Task.WaitAsync(Timeouts.Default);

        public void Release() => _gate.TrySetResult();

        public async ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
        {
            if (tag.Contains("slow-", StringComparison.Ordinal))
            {
                _started.TrySetResult();
                await _gate.Task;
            }

            foreach (var (key, entry) in _entries)
            {
                if (entry.Tags.Contains(tag, StringComparer.Ordinal))
                {
                    _entries.TryRemove(key, out _);
                }
            }
        }

        public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken) =>
            ValueTask.FromResult(_entries.TryGetValue(key, out var entry) ? entry.Value : null);

        public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
        {
            _entries[key] = (value, tags ?? []);
            return ValueTask.CompletedTask;
        }
    }
}
