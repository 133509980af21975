using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Product;

/// <summary>An application's own grain, in its own silo, tells browsers what changed by calling the hub grain.</summary>
public interface IOrderGrain : IGrainWithStringKey
{
    Task Ship();
}

/// <summary>What a team's grain looks like with Count Cachula: change state, then invalidate what it changed.</summary>
public sealed class OrderGrain : Grain, IOrderGrain
{
    public async Task Ship()
    {
        var id = this.GetPrimaryKeyString();
        // ... the order's own state changes here ...
        await GrainFactory.GetGrain<ICacheHubGrain>(CacheTenant.Default).Invalidate([$"order:{id}", "orders-list"]);
        await GrainFactory.GetGrain<ICacheHubGrain>(CacheTenant.Default).PreloadHint([$"/api/orders/{id}"]);
    }
}

[Collection(ClusterCollection.Name)]
public sealed class OwnOrleansAppTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_grain_of_the_application_invalidates_through_the_hub()
    {
        await using var broadcast = await StreamProbe.EverythingAsync(fixture.Client, CacheTenant.Default);
        await using var notices = await StreamProbe.NoticesAsync(fixture.Client, CacheTenant.Default);

        await fixture.Client.GetGrain<IOrderGrain>("42").Ship();

        var invalidation = await broadcast.NextAsync("the order grain's invalidation");
        var hint = await notices.NextAsync("the order grain's preload hint");
        Assert.Equal(["order:42", "orders-list"], invalidation.Items);
        Assert.Equal(["/api/orders/42"], hint.Items);
    }
}
