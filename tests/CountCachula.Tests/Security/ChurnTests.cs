using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Delivery;

namespace CountCachula.Tests.Security;

/// <summary>Churn measures the process's managed memory, so nothing else may run beside it.</summary>
[CollectionDefinition(nameof(ChurnCollection), DisableParallelization = true)]
public sealed class ChurnCollection;

/// <summary>
/// 10,000 streams opened and closed (16 at a time): afterwards the registry, the per-tenant and per-address counts are
/// back to zero and managed memory after a full GC is within 10 % of where it started.
/// </summary>
[Collection(nameof(ChurnCollection))]
public sealed class ChurnTests(FrontendFixture fixture) : IClassFixture<FrontendFixture>
{
    private const int Cycles = 10_000;

    [Fact]
    public async Task Ten_thousand_connect_disconnect_cycles_leave_nothing_behind()
    {
        var limits = fixture.Get<ConnectionLimits>();

        // Warm-up: first-use allocations (JIT, pools, caches) are not a leak.
        await CycleAsync(500);
        await WaitForZeroAsync("after warm-up");
        var before = SettledMemory();

        await CycleAsync(Cycles);
        await WaitForZeroAsync($"after {Cycles} cycles");
        Assert.Equal(0, limits.ForTenant("default"));
        Assert.Equal((0, 0), limits.Tracked);
        Assert.Empty(fixture.Registry.Snapshot("default"));

        var after = SettledMemory();
        Assert.True(after <= before * 1.10, $"Managed memory grew from {before:N0} to {after:N0} bytes over {Cycles} cycles.");
    }

    private async Task CycleAsync(int cycles)
    {
        var next = 0;
        var workers = Enumerable.Range(0, 16).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= cycles)
            {
                var (client, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?tags=churn");
                await client.DisposeAsync();
            }
        });
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(3));
    }

    private async Task WaitForZeroAsync(string phase)
    {
        using var timeout = new CancellationTokenSource(Timeouts.Default);
        while (fixture.Registry.Count > 0 || fixture.Get<ConnectionLimits>().Tracked != (0, 0))
        {
            // Signals taken before the check below, so a change between the two is not missed.
            var changed = Task.WhenAny(fixture.Registry.WhenChanged(), fixture.Get<ConnectionLimits>().WhenReleased());
            if (fixture.Registry.Count == 0 && fixture.Get<ConnectionLimits>().Tracked == (0, 0))
            {
                return;
            }

            try
            {
                await changed.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"{phase}: {fixture.Registry.Count} connections still registered, slots {fixture.Get<ConnectionLimits>().Tracked}.");
            }
        }
    }

    private static long SettledMemory()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
