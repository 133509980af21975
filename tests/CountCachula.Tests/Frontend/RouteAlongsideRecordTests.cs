using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;

namespace CountCachula.Tests.Frontend;

/// <summary>A frontend whose hub history is kept by <see cref="GatedGrainStorage"/>, so a test can hold a history write.</summary>
public sealed class GatedStorageFixture : IAsyncLifetime
{
    private TestFrontend? _frontend;

    public HttpClient Http => _frontend!.Http;

    public GatedGrainStorage Storage => (GatedGrainStorage)_frontend!.App.Services.GetRequiredKeyedService<IGrainStorage>(CacheTopics.Storage);

    public async Task InitializeAsync() =>
        _frontend = await TestFrontend.StartAsync("gated-" + Guid.NewGuid().ToString("N")[..8], configure: builder =>
        {
            foreach (var memory in builder.Services.Where(d => d.IsKeyedService && Equals(d.ServiceKey, CacheTopics.Storage)).ToList())
            {
                builder.Services.Remove(memory);
            }

            builder.Services.AddKeyedSingleton<IGrainStorage>(CacheTopics.Storage, (sp, _) => new GatedGrainStorage(sp.GetRequiredService<DeepCopier>()));
        });

    public async Task DisposeAsync()
    {
        if (_frontend is not null)
        {
            await _frontend.DisposeAsync();
        }
    }
}

/// <summary>
/// The hub routes an event while its history write is still under way: a browser has it before the publisher's 202,
/// the 202 still waits for the write, and when the write fails the publisher gets a 503 while resuming stays gap-free.
/// </summary>
public sealed class RouteAlongsideRecordTests(GatedStorageFixture fixture) : IClassFixture<GatedStorageFixture>
{
    [Fact]
    public async Task A_browser_gets_the_event_while_its_history_write_is_held_and_the_publish_answers_once_it_is_stored()
    {
        const string Tags = "/api/cache-events?tags=held:warm,held:event";
        var (stream, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, Tags);
        await using var _ = stream;
        var (_, warm) = await PublishAsync("held:warm");
        Assert.Equal(warm, (await stream.NextAsync("the warm-up event")).EventId);

        var write = fixture.Storage.HoldNextWrite("events", "default/");
        var publish = SendAsync("held:event");
        await write.Arrived.WaitAsync(Timeouts.Default);
        var live = await stream.NextAsync("the event while its history write is held");

        Assert.Equal("held:event", live.Data);
        Assert.False(publish.IsCompleted, "the publish answered before its event was stored");
        write.Release();
        using var response = await publish;
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(live.EventId, await IdOfAsync(response));

        // It is in the history: a browser resuming after the warm-up event gets it.
        await using var resumed = await SseClient.ConnectAsync(fixture.Http, Tags + "&lastEventId=" + warm);
        Assert.Equal("connected", (await resumed.NextAsync("connected, resuming", includeHeartbeats: true)).EventType);
        var replayed = await resumed.NextAsync("the replay");
        Assert.Equal(("held:event", live.EventId), (replayed.Data, replayed.EventId));
    }

    [Fact]
    public async Task A_failed_history_write_answers_503_and_a_browser_that_got_the_unrecorded_event_still_gets_everything_recorded_after_it()
    {
        const string Tags = "/api/cache-events?tags=failed:before,failed:lost,failed:retry";
        var (stream, _) = await SseClient.ConnectAndWaitAsync(fixture.Http, Tags);
        await using var _ = stream;
        var (_, before) = await PublishAsync("failed:before");
        Assert.Equal(before, (await stream.NextAsync("the event before")).EventId);

        var write = fixture.Storage.HoldNextWrite("events", "default/");
        var publish = SendAsync("failed:lost");
        await write.Arrived.WaitAsync(Timeouts.Default);
        write.Fail();
        using (var refused = await publish)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        // Routed before the write failed: the browser has it, an extra invalidation the publisher's retry repeats.
        var lost = await stream.NextAsync("the unrecorded event");
        Assert.Equal("failed:lost", lost.Data);
        var (status, retry) = await PublishAsync("failed:retry");
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.True(long.Parse(retry) > long.Parse(lost.EventId!), $"the retry got id {retry}, not after the unrecorded {lost.EventId}");

        // The next event is not taken for a second copy of the unrecorded one: its id is new.
        var next = await stream.NextAsync("the retry");
        Assert.Equal(("failed:retry", retry), (next.Data, next.EventId));

        // A browser that saw the unrecorded event resumes after it and gets everything recorded since; one that saw
        // only the event before gets the retry too, but not the event that was never recorded.
        foreach (var after in new[] { lost.EventId!, before })
        {
            await using var resumed = await SseClient.ConnectAsync(fixture.Http, Tags + "&lastEventId=" + after);
            Assert.Equal("connected", (await resumed.NextAsync("connected, resuming", includeHeartbeats: true)).EventType);
            var replayed = await resumed.NextAsync("the replay after " + after);
            Assert.Equal(("invalidate", "failed:retry", retry), (replayed.EventType, replayed.Data, replayed.EventId));
        }
    }

    private Task<HttpResponseMessage> SendAsync(string tag) =>
        fixture.Http.PostAsJsonAsync("/api/cache/invalidate", new { tags = new[] { tag } });

    private async Task<(HttpStatusCode Status, string Id)> PublishAsync(string tag)
    {
        using var response = await SendAsync(tag);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (response.StatusCode, (await IdOfAsync(response))!);
    }

    private static async Task<string?> IdOfAsync(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("id").GetString();
    }
}
