using CountCachula.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Hosting;

namespace CountCachula.Tests.Declared;

/// <summary>A co-hosted app (silo + Kestrel + SSE) whose grain keeps an outbox with its state.</summary>
public sealed class OutboxAppFixture : IAsyncLifetime
{
    public WebApplication App { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public IGrainFactory Grains => App.Services.GetRequiredService<IGrainFactory>();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(["--urls", "http://127.0.0.1:0", "--environment", "Development"]);
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(FreePorts.Next(), FreePorts.Next(), serviceId: "outbox", clusterId: "outbox-" + Guid.NewGuid().ToString("N")[..8])
            .AddMemoryGrainStorage(OutboxOrderGrain.Storage)
            .AddIncomingGrainCallFilter(HubRefusals.Filter)
            .AddCountCachula());
        builder.Services.AddCountCachula();
        builder.Services.AddCountCachulaAuthentication();
        App = builder.Build();
        App.MapCacheEvents();
        await App.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri(App.Urls.Single()), Timeout = Timeouts.Default };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

public sealed class OutboxTests(OutboxAppFixture fixture) : IClassFixture<OutboxAppFixture>
{
    [Fact]
    public async Task Tags_written_with_the_state_reach_the_stream_once()
    {
        var (order, stream) = await Watch("o-");
        await using var _ = stream;

        var write = await fixture.Grains.GetGrain<IOutboxOrderGrain>(order).Ship("c1");

        var told = await stream.NextOfTypeAsync("invalidate", "the written invalidation");
        Assert.Equal($"oorder:{order}", told.Data);
        Assert.Equal(long.Parse(told.EventId!), write.EventId);
        await ExpectSentinelNext(order, stream);
        Assert.Equal(0, await fixture.Grains.GetGrain<IOutboxOrderGrain>(order).Owed());
    }

    [Fact]
    public async Task A_publish_that_fails_after_the_write_is_delivered_on_reactivation_exactly_once()
    {
        // No timer retry for this grain: only its next activation can repair the lost publish, as after a crash.
        var (order, stream) = await Watch("noretry-");
        await using var _ = stream;
        var grain = fixture.Grains.GetGrain<IOutboxOrderGrain>(order);
        HubRefusals.Refuse(order, 1);

        var write = await grain.Ship("c2");

        Assert.Equal(0, write.EventId);
        Assert.Equal(1, await grain.Owed());
        await grain.Deactivate();
        Assert.Equal(0, await grain.Owed()); // the new activation published what the stored state owed
        Assert.Equal(1, await grain.Stored());

        var told = await stream.NextOfTypeAsync("invalidate", "the invalidation repaired on activation");
        Assert.Equal($"oorder:{order}", told.Data);
        await ExpectSentinelNext(order, stream);
    }

    [Fact]
    public async Task A_repeat_after_a_publish_that_landed_adds_no_event()
    {
        var (order, stream) = await Watch("o-");
        await using var _ = stream;
        var grain = fixture.Grains.GetGrain<IOutboxOrderGrain>(order);

        await grain.Ship("c3");
        Assert.Equal($"oorder:{order}", (await stream.NextOfTypeAsync("invalidate", "the first publish")).Data);
        await grain.Deactivate();
        // The published entry stays stored until the next write, so the new activation publishes it again, with
        // the same idempotency key: the hub answers with the original event and the stream hears nothing new.
        Assert.Equal(1, await grain.Stored());
        Assert.Equal(0, await grain.Owed());
        await ExpectSentinelNext(order, stream);

        // The next write drops it: the state keeps only its own.
        var second = await grain.Ship("c3");
        Assert.Equal(1, await grain.Stored());
        Assert.Equal(2, await grain.Version());
        Assert.Equal(long.Parse((await stream.NextOfTypeAsync("invalidate", "the second write")).EventId!), second.EventId);
    }

    [Fact]
    public async Task A_hub_that_refuses_for_a_while_gets_it_from_the_retry_timer_once()
    {
        var (order, stream) = await Watch("o-");
        await using var _ = stream;
        var grain = fixture.Grains.GetGrain<IOutboxOrderGrain>(order);
        HubRefusals.Refuse(order, 3);

        var write = await grain.Ship("c4");

        Assert.Equal(0, write.EventId);
        var told = await stream.NextOfTypeAsync("invalidate", "the invalidation the timer retried");
        Assert.Equal($"oorder:{order}", told.Data);
        Assert.Equal(0, await grain.Owed());
        await ExpectSentinelNext(order, stream);
    }

    [Fact]
    public async Task A_cleared_state_starts_its_versions_over_without_reusing_a_key()
    {
        var (order, stream) = await Watch("o-");
        await using var _ = stream;
        var grain = fixture.Grains.GetGrain<IOutboxOrderGrain>(order);
        var first = await grain.Ship("c5");
        Assert.Equal(first.EventId, long.Parse((await stream.NextOfTypeAsync("invalidate", "the first write")).EventId!));

        await grain.Clear();
        var again = await grain.Ship("c5");

        // Version 1 again, with the same tags, well within the hub's window: a new epoch keeps it a new event.
        Assert.Equal(1, await grain.Version());
        Assert.True(again.EventId > first.EventId);
        Assert.Equal(again.EventId, long.Parse((await stream.NextOfTypeAsync("invalidate", "the write after the clear")).EventId!));
    }

    [Fact]
    public async Task Declared_tags_of_an_outbox_grain_are_written_with_its_state_and_tags_added_later_are_published_after()
    {
        var (order, stream) = await Watch("o-", "oextra:{0},olate:{0}");
        await using var _ = stream;
        var grain = fixture.Grains.GetGrain<IOutboxOrderGrain>(order);

        var write = await grain.ShipDeclared($"oextra:{order}", $"olate:{order}");

        // The declared tag and the one added before the write are one outbox invalidation.
        var told = await stream.NextOfTypeAsync("invalidate", "the declared tags through the outbox");
        Assert.Equal($"oorder:{order},oextra:{order}", told.Data);
        Assert.Equal(1, write.Value);
        Assert.Equal(1, await grain.Stored());
        // The tag added after the write is the filter's, published as before; the result carries the highest id.
        var late = await stream.NextOfTypeAsync("invalidate", "the tag added after the write");
        Assert.Equal($"olate:{order}", late.Data);
        Assert.Equal(long.Parse(late.EventId!), write.EventId);
        await ExpectSentinelNext(order, stream);
    }

    [Fact]
    public async Task Declared_tags_whose_publish_fails_are_repaired_on_reactivation_not_published_by_the_filter()
    {
        var (order, stream) = await Watch("noretry-", "oextra:{0},olate:{0}");
        await using var _ = stream;
        var grain = fixture.Grains.GetGrain<IOutboxOrderGrain>(order);
        HubRefusals.Refuse(order, 1);

        var write = await grain.ShipDeclared($"oextra:{order}", $"olate:{order}");

        Assert.Equal(0, write.EventId); // owed: no id a client could wait for
        Assert.Equal($"olate:{order}", (await stream.NextOfTypeAsync("invalidate", "the tag added after the write")).Data);
        await grain.Deactivate();
        Assert.Equal(0, await grain.Owed());
        Assert.Equal($"oorder:{order},oextra:{order}", (await stream.NextOfTypeAsync("invalidate", "the declared tags repaired on activation")).Data);
        await ExpectSentinelNext(order, stream);
    }

    [Fact]
    public async Task A_write_without_tags_stores_the_state_and_drops_what_was_published()
    {
        var grain = fixture.Grains.GetGrain<IOutboxOrderGrain>("o-" + Guid.NewGuid().ToString("N")[..8]);
        await grain.Ship("c6");

        var write = await grain.Touch();

        Assert.Equal(0, write.EventId);
        Assert.Equal(2, await grain.Version());
        Assert.Equal(0, await grain.Stored());
    }

    [Fact]
    public void The_idempotency_key_names_the_grain_and_the_write_or_a_hash_when_it_cannot()
    {
        var grain = GrainId.Create("outboxorder", "o-1");
        Assert.Equal("outbox:outboxorder/o-1:0a1b2c3d:7", CacheOutboxWriter<OutboxOrder>.Key(grain, "0a1b2c3d", 7));

        var odd = CacheOutboxWriter<OutboxOrder>.Key(GrainId.Create("outboxorder", "ä " + new string('x', 200)), "0a1b2c3d", 7);
        Assert.Null(IdempotencyKeys.Check(odd));
        Assert.EndsWith(":0a1b2c3d:7", odd);
    }

    /// <summary>A stream of one new order's tag (it hears only the tags it asked for, not the customer's) and its sentinel.</summary>
    private async Task<(string Order, SseClient Stream)> Watch(string prefix, string? more = null)
    {
        var order = prefix + Guid.NewGuid().ToString("N")[..8];
        var extra = more is null ? "" : "," + string.Format(System.Globalization.CultureInfo.InvariantCulture, more, order);
        var (stream, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=oorder:{order},osentinel:{order}{extra}");
        return (order, stream);
    }

    /// <summary>Events reach a stream in the hub's order: anything published again before the sentinel would come first.</summary>
    private async Task ExpectSentinelNext(string order, SseClient stream)
    {
        var sentinel = $"osentinel:{order}";
        await fixture.Grains.GetGrain<ICacheHubGrain>(CacheTenant.Default).Invalidate([sentinel]);
        Assert.Equal(sentinel, (await stream.NextOfTypeAsync("invalidate", "the sentinel")).Data);
    }
}
