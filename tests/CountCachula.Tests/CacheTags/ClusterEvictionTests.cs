using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.CacheTags;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;

namespace CountCachula.Tests.CacheTags;

/// <summary>Three silos in one process, each with <see cref="DocsApi"/> output-cached and eviction on.</summary>
public sealed class EvictionClusterFixture : IAsyncLifetime
{
    public IReadOnlyList<TaggedApp> Silos { get; private set; } = [];

    public async Task InitializeAsync()
    {
        var clusterId = "evict-" + Guid.NewGuid().ToString("N")[..8];
        KeyValuePair<string, string>[] settings = [new("CountCachula:EvictOutputCache", "true")];
        var first = await TaggedApp.StartAsync(clusterId, null, settings);
        var second = await TaggedApp.StartAsync(clusterId, first.SiloPort, settings);
        var third = await TaggedApp.StartAsync(clusterId, first.SiloPort, settings);
        Silos = [first, second, third];
        foreach (var silo in Silos)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var membership = silo.Get<IClusterMembershipService>();
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cts.Token))
            {
                if (snapshot.Members.Values.Count(m => m.Status == SiloStatus.Active) >= 3)
                {
                    break;
                }
            }
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in Silos.Reverse())
        {
            await silo.DisposeAsync();
        }
    }
}

/// <summary>
/// One invalidation, published once anywhere in the cluster, evicts the server-side copy on every silo before that
/// silo's browsers are told: a browser's refetch, on any silo, is fresh.
/// </summary>
public sealed class ClusterEvictionTests(EvictionClusterFixture cluster) : IClassFixture<EvictionClusterFixture>
{
    [Fact]
    public async Task One_invalidation_evicts_the_cached_get_on_every_silo_before_its_browsers_hear_of_it()
    {
        var id = Guid.NewGuid().ToString("N");
        var path = $"/docs/{id}";
        DocsApi.Documents[id] = "v1";
        var browsers = new List<SseClient>();
        try
        {
            foreach (var silo in cluster.Silos)
            {
                browsers.Add((await SseClient.ConnectAndWaitAsync(silo.Http, $"/api/cache-events?tags=doc:{id}")).Client);
                await silo.Get<OutputCacheEviction>().WhenListening("default");
                Assert.Equal("v1", await silo.GetUntilCachedAsync(path));
            }

            // The database changes; every silo still answers from its output cache.
            DocsApi.Documents[id] = "v2";
            foreach (var silo in cluster.Silos)
            {
                Assert.Equal("v1", await silo.Http.GetStringAsync(path));
            }

            await cluster.Silos[1].Get<IGrainFactory>().GetGrain<ICacheHubGrain>(CacheTenant.Default).Invalidate([$"doc:{id}"]);

            for (var i = 0; i < cluster.Silos.Count; i++)
            {
                var silo = cluster.Silos[i];
                var told = await browsers[i].NextAsync($"silo {i}'s browser being told");

                // When the frame is read, this silo has already evicted for it, and the browser's refetch is fresh.
                Assert.Equal(("invalidate", $"doc:{id}"), (told.EventType, told.Data));
                Assert.True(silo.Get<OutputCacheEviction>().LastEvicted("default") >= long.Parse(told.EventId!), $"silo {i} told its browser before evicting");
                Assert.Equal("v2", await silo.Http.GetStringAsync(path));
            }
        }
        finally
        {
            foreach (var browser in browsers)
            {
                await browser.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_silo_without_any_browser_evicts_too()
    {
        var id = Guid.NewGuid().ToString("N");
        var path = $"/docs/{id}";
        DocsApi.Documents[id] = "v1";
        foreach (var silo in cluster.Silos)
        {
            await silo.Get<OutputCacheEviction>().WhenListening("default");
            Assert.Equal("v1", await silo.GetUntilCachedAsync(path));
        }

        DocsApi.Documents[id] = "v2";
        var (watcher, _) = await SseClient.ConnectAndWaitAsync(cluster.Silos[0].Http, $"/api/cache-events?tags=doc:{id}");
        await using var _ = watcher;
        await cluster.Silos[2].Get<IGrainFactory>().GetGrain<ICacheHubGrain>(CacheTenant.Default).Invalidate([$"doc:{id}"]);
        var told = await watcher.NextAsync("the one browser being told");
        var sequence = long.Parse(told.EventId!);

        // Silos 1 and 2 hold no stream, yet listen for eviction: wait for them to have seen the event, then read.
        foreach (var silo in cluster.Silos)
        {
            var eviction = silo.Get<OutputCacheEviction>();
            while (true)
            {
                var evicted = eviction.WhenEvicted();
                if (eviction.LastEvicted("default") >= sequence)
                {
                    break;
                }

                await evicted.WaitAsync(Timeouts.Default);
            }

            Assert.Equal("v2", await silo.Http.GetStringAsync(path));
        }
    }
}
