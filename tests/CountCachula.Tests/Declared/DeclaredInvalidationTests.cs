using System.Net;
using System.Net.ServerSentEvents;
using CountCachula.AspNetCore.Publishing;
using CountCachula.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Hosting;

namespace CountCachula.Tests.Declared;

/// <summary>A co-hosted app (silo + Kestrel + SSE) whose grain methods declare their invalidations.</summary>
public sealed class DeclaredAppFixture : IAsyncLifetime
{
    public WebApplication App { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public IGrainFactory Grains => App.Services.GetRequiredService<IGrainFactory>();

    public ICacheHub Hub => App.Services.GetRequiredService<ICacheHub>();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(["--urls", "http://127.0.0.1:0", "--environment", "Development"]);
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(FreePorts.Next(), FreePorts.Next(), serviceId: "declared", clusterId: "declared-" + Guid.NewGuid().ToString("N")[..8])
            .AddCountCachula());
        builder.Services.AddCountCachula();
        builder.Services.AddCountCachulaAuthentication();
        App = builder.Build();
        App.MapCacheEvents();
        App.MapPost("/orders/{id}/ship", async (string id, string customer, IGrainFactory grains) =>
        {
            await grains.GetGrain<IDeclaredOrderGrain>(id).Ship(customer);
            return Results.Accepted();
        });
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

public sealed class DeclaredInvalidationTests(DeclaredAppFixture fixture) : IClassFixture<DeclaredAppFixture>
{
    [Fact]
    public async Task A_declared_method_that_succeeds_invalidates_its_bound_tags()
    {
        var order = "o-" + Guid.NewGuid().ToString("N")[..8];
        var customer = "c-" + Guid.NewGuid().ToString("N")[..8];
        var (stream, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=dorder:{order},dcustomer:{customer}:orders");
        await using var _ = stream;

        var write = await fixture.Grains.GetGrain<IDeclaredOrderGrain>(order).Ship(customer);

        var told = await stream.NextOfTypeAsync("invalidate", "the declared invalidation");
        Assert.Equal($"dorder:{order},dcustomer:{customer}:orders", told.Data);
        // The caller got the published id in the result: the invalidation was accepted before the call returned.
        Assert.Equal(long.Parse(told.EventId!), write.EventId);
    }

    [Fact]
    public async Task Arguments_bind_invariantly_and_the_methods_own_result_comes_back_with_the_id()
    {
        var order = "o-" + Guid.NewGuid().ToString("N")[..8];
        var (stream, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=dorder:{order}:*");
        await using var _ = stream;

        var write = await fixture.Grains.GetGrain<IDeclaredOrderGrain>(order).AddLines("c", 1200);

        Assert.Equal(1200, write.Value);
        var told = await stream.NextOfTypeAsync("invalidate", "the bound invalidation");
        Assert.Equal($"dorder:{order}:lines:1200", told.Data);
        Assert.Equal(long.Parse(told.EventId!), write.EventId);
    }

    [Fact]
    public async Task A_declared_method_that_throws_invalidates_nothing()
    {
        var order = "o-" + Guid.NewGuid().ToString("N")[..8];
        var customer = "c-" + Guid.NewGuid().ToString("N")[..8];
        var sentinel = $"dorder:{order}:sentinel";
        var (stream, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=dorder:{order}*,dcustomer:{customer}:orders");
        await using var _ = stream;

        await Assert.ThrowsAsync<InvalidOperationException>(() => fixture.Grains.GetGrain<IDeclaredOrderGrain>(order).Reject(customer));
        await fixture.Grains.GetGrain<ICacheHubGrain>(CacheTenant.Default).Invalidate([sentinel]);

        // Events reach a stream in the hub's order: had the failed call published, it would come before the sentinel.
        var next = await stream.NextOfTypeAsync("invalidate", "the sentinel after the failed call");
        Assert.Equal(sentinel, next.Data);
    }

    [Fact]
    public async Task Tags_added_during_the_call_are_published_with_the_declared_ones()
    {
        var order = "o-" + Guid.NewGuid().ToString("N")[..8];
        var customer = "c-" + Guid.NewGuid().ToString("N")[..8];
        var extra = $"dproduct:{order}:stock";
        var (stream, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=dorder:{order},dproduct:{order}:stock,dcustomer:{customer}:orders");
        await using var _ = stream;

        var write = await fixture.Grains.GetGrain<IDeclaredOrderGrain>(order).ShipAndTouch(customer, extra);

        var told = await stream.NextOfTypeAsync("invalidate", "the declared and added tags");
        Assert.Equal($"dorder:{order},{extra},dcustomer:{customer}:orders", told.Data);
        Assert.Equal(long.Parse(told.EventId!), write.EventId);
    }

    [Fact]
    public async Task A_publish_the_hub_refuses_does_not_fail_the_write_and_brings_back_no_id()
    {
        // A 300-character argument binds to a tag the hub refuses (at most 256): the state change stands, the call
        // succeeds, and the failure is logged and counted rather than thrown at a caller who would retry the write.
        var write = await fixture.Grains.GetGrain<IDeclaredOrderGrain>("o-" + Guid.NewGuid().ToString("N")[..8]).Label(new string('x', 300));

        Assert.Equal(0, write.EventId);
    }

    [Fact]
    public void Adding_tags_outside_a_declared_call_is_refused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => CacheInvalidation.Add("anything"));
        Assert.Contains("[InvalidatesCacheTags]", e.Message);
        Assert.Throws<ArgumentException>(() => CacheInvalidation.Add("bad\ntag"));
    }

    [Fact]
    public async Task The_grain_class_names_its_tenant_and_an_integer_key_reads_in_decimal()
    {
        await fixture.Grains.GetGrain<IDeclaredCounterGrain>(4711).Bump(2.5m);

        var recent = await fixture.Grains.GetGrain<ICacheHubGrain>(DeclaredCounterGrain.Tenant).Recent(5);
        Assert.Contains(recent, e => e.Kind == CacheEventKind.Invalidate && e.Items.SequenceEqual(["dcounter:4711:2.5"]));
    }

    [Fact]
    public async Task The_http_response_names_the_event_id_and_the_stream_receives_it()
    {
        var order = "o-" + Guid.NewGuid().ToString("N")[..8];
        var (stream, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tags=dorder:{order}");
        await using var _ = stream;

        using var response = await fixture.Http.PostAsync($"/orders/{order}/ship?customer=c1", null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = long.Parse(Assert.Single(response.Headers.GetValues("CountCachula-Event-Id")));
        // Read-your-writes: the client waits on its stream until that id, then refetches.
        SseItem<string> told;
        do
        {
            told = await stream.NextOfTypeAsync("invalidate", $"waiting for event {id}");
        }
        while (long.Parse(told.EventId!) < id);

        Assert.Equal(id, long.Parse(told.EventId!));
        Assert.Equal($"dorder:{order}", told.Data);
    }
}
