using System.Net;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;
using Microsoft.Extensions.DependencyInjection;

namespace CountCachula.Tests.Frontend;

/// <summary>The SSE endpoint as a browser sees it: headers, first event, heartbeats, delivery, disconnects.</summary>
public sealed class SseStreamTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    [Fact]
    public async Task Stream_has_sse_headers_and_starts_with_connected_and_a_retry_hint()
    {
        await using var client = await SseClient.ConnectAsync(frontend.Http, "/api/cache-events");

        var first = await client.NextAsync("waiting for the first event", includeHeartbeats: true);

        Assert.Equal("text/event-stream", client.Response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-cache", client.Response.Headers.CacheControl?.ToString());
        Assert.Equal("no", Assert.Single(client.Response.Headers.GetValues("X-Accel-Buffering")));
        Assert.Equal("connected", first.EventType);
        using var data = JsonDocument.Parse(first.Data);
        Assert.False(string.IsNullOrEmpty(data.RootElement.GetProperty("connectionId").GetString()));
        Assert.Equal("default", data.RootElement.GetProperty("tenant").GetString());
        Assert.StartsWith("retry: ", client.RawText);
        Assert.NotNull(client.Retry);
        Assert.InRange(client.Retry!.Value.TotalMilliseconds, 500, 1000);
    }

    [Fact]
    public async Task Heartbeats_arrive_at_the_configured_interval()
    {
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using var _ = client;

        var first = await client.NextOfTypeAsync("heartbeat", "waiting for the first heartbeat");
        var afterFirst = DateTime.UtcNow;
        var second = await client.NextOfTypeAsync("heartbeat", "waiting for the second heartbeat");
        var gap = DateTime.UtcNow - afterFirst;

        Assert.Equal("ping", first.Data);
        Assert.Equal("ping", second.Data);
        Assert.Contains("event: heartbeat\ndata: ping\n\n", client.RawText);
        // One timer serves all streams, so the gap is the interval give or take scheduling; it is never a burst.
        Assert.True(gap >= FrontendFixture.HeartbeatInterval / 2, $"Heartbeats came {gap.TotalMilliseconds} ms apart; the interval is {FrontendFixture.HeartbeatInterval.TotalMilliseconds} ms.");
    }

    [Fact]
    public async Task Hub_service_invalidation_reaches_the_stream_as_comma_joined_tags()
    {
        var (client, _) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        await using var _ = client;

        await frontend.Get<ICacheHub>().InvalidateAsync("user:123", "users-list", "stats:users");

        var invalidate = await client.NextAsync("waiting for the invalidation");
        Assert.Equal("invalidate", invalidate.EventType);
        Assert.Equal("user:123,users-list,stats:users", invalidate.Data);
        Assert.False(string.IsNullOrEmpty(invalidate.EventId));
    }

    [Fact]
    public async Task Every_open_stream_receives_each_event_once_and_ids_increase()
    {
        var clients = new List<SseClient>();
        try
        {
            for (var i = 0; i < 5; i++)
            {
                clients.Add((await SseClient.ConnectAndWaitAsync(frontend.Http)).Client);
            }

            var hub = frontend.Get<ICacheHub>();
            await hub.InvalidateAsync("first");
            await hub.PreloadHintAsync("/api/second");
            await hub.InvalidateAsync("sentinel");

            foreach (var client in clients)
            {
                var a = await client.NextAsync("first event");
                var b = await client.NextAsync("second event");
                var c = await client.NextAsync("sentinel event");
                Assert.Equal(("invalidate", "first"), (a.EventType, a.Data));
                Assert.Equal(("preload-hint", "/api/second"), (b.EventType, b.Data));
                Assert.Equal(("invalidate", "sentinel"), (c.EventType, c.Data));
                Assert.True(long.Parse(a.EventId!) < long.Parse(b.EventId!) && long.Parse(b.EventId!) < long.Parse(c.EventId!));
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_fan_out_wider_than_the_writers_chunks_reaches_every_stream_with_every_event_in_order()
    {
        // More streams than the writer shards take per chunk on any core count here, and events published back to back,
        // so streams get their events both one at a time and several in one write.
        const int Streams = 150;
        const int Events = 20;
        var clients = new List<SseClient>();
        try
        {
            for (var i = 0; i < Streams; i++)
            {
                clients.Add((await SseClient.ConnectAndWaitAsync(frontend.Http)).Client);
            }

            var hub = frontend.Get<ICacheHub>();
            for (var k = 0; k < Events; k++)
            {
                await hub.InvalidateAsync($"wide-{k}");
            }

            foreach (var client in clients)
            {
                var previous = 0L;
                for (var k = 0; k < Events; k++)
                {
                    var item = await client.NextAsync($"event {k} of the wide fan-out");
                    Assert.Equal(("invalidate", $"wide-{k}"), (item.EventType, item.Data));
                    var id = long.Parse(item.EventId!, System.Globalization.CultureInfo.InvariantCulture);
                    Assert.True(id > previous, $"Event id {id} came after {previous}.");
                    previous = id;
                }
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Disconnecting_removes_the_connection_from_the_registry()
    {
        var (client, connectionId) = await SseClient.ConnectAndWaitAsync(frontend.Http);
        Assert.NotNull(frontend.Registry.Find("default", connectionId));

        await client.DisposeAsync();

        await frontend.Registry.UntilAsync(r => r.Find("default", connectionId) is null, "waiting for the closed connection to leave the registry");
        // Every other test of this class closes its streams too, so nothing may be left behind.
        await frontend.Registry.UntilAsync(r => r.Count == 0, "waiting for the registry to empty");
    }

    [Fact]
    public async Task Stream_refuses_clients_that_do_not_accept_event_streams()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/cache-events");
        request.Headers.Accept.ParseAdd("application/json");

        using var response = await frontend.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotAcceptable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("text/event-stream", await response.Content.ReadAsStringAsync());
    }
}
