using System.Net;
using System.Net.Http.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.WebFrontend.Publishing;
using CountCachula.WebFrontend.Streaming;

namespace CountCachula.Tests.Cluster;

/// <summary>Selective delivery across a real three-silo cluster, and routing that follows interest.</summary>
public sealed class ClusterRoutingTests(ThreeSiloFixture cluster) : IClassFixture<ThreeSiloFixture>
{
    private TestFrontend A => cluster.Silos[0];
    private TestFrontend B => cluster.Silos[1];
    private TestFrontend C => cluster.Silos[2];

    [Fact]
    public async Task Events_published_on_any_silo_reach_exactly_the_interested_connections_with_exactly_their_tags()
    {
        var streams = new Dictionary<string, SseClient>();
        try
        {
            streams["a1"] = await OpenAsync(A, "?tags=user:1");
            streams["a2"] = await OpenAsync(A, "?tags=posts:*");
            streams["b1"] = await OpenAsync(B, "?tags=user:2,team:1");
            streams["b2"] = await OpenAsync(B, "");
            streams["c1"] = await OpenAsync(C, "?tags=user:1,user:3");
            streams["c2"] = await OpenAsync(C, "?tags=other&format=json");

            using (var viaHttp = await A.Http.PostAsJsonAsync("/api/cache/invalidate", new { tags = new[] { "user:1", "posts:5" } }))
            {
                Assert.Equal(HttpStatusCode.Accepted, viaHttp.StatusCode);
            }

            await B.Get<ICacheHub>().InvalidateAsync("user:2", "user:3", "team:1");
            using (var viaHttp = await C.Http.PostAsJsonAsync("/api/cache/invalidate", new { tags = new[] { "users-list" } }))
            {
                Assert.Equal(HttpStatusCode.Accepted, viaHttp.StatusCode);
            }

            await C.Get<ICacheHub>().PreloadHintAsync(["/api/users/2"], ["user:2"]);
            // The sentinel: a published '*' reaches every connection, after everything above.
            await A.Get<ICacheHub>().InvalidateAsync("*");

            var expected = new Dictionary<string, string[]>
            {
                ["a1"] = ["invalidate user:1"],
                ["a2"] = ["invalidate posts:5"],
                ["b1"] = ["invalidate user:2,team:1", "preload-hint /api/users/2"],
                ["b2"] = ["invalidate user:1,posts:5", "invalidate user:2,user:3,team:1", "invalidate users-list", "preload-hint /api/users/2"],
                ["c1"] = ["invalidate user:1", "invalidate user:3"],
                ["c2"] = [],
            };
            foreach (var (name, stream) in streams)
            {
                var received = new List<string>();
                while (true)
                {
                    var next = await stream.NextAsync($"stream {name}: reading up to the '*' sentinel");
                    if (next.Data is "*" or "[\"*\"]")
                    {
                        break;
                    }

                    received.Add($"{next.EventType} {next.Data}");
                }

                Assert.True(expected[name].SequenceEqual(received), $"stream {name} expected [{string.Join(" | ", expected[name])}] but got [{string.Join(" | ", received)}]");
            }
        }
        finally
        {
            foreach (var stream in streams.Values)
            {
                await stream.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_silo_reads_a_tag_stream_only_while_a_local_connection_wants_that_tag()
    {
        var tag = "only-on-c:" + Guid.NewGuid().ToString("N")[..6];
        var (stream, id) = await SseClient.ConnectAndWaitAsync(C.Http, $"/api/cache-events?tags={tag}");
        await using var _ = stream;

        Assert.True(C.Get<TopicSubscriptions>().IsSubscribedToTag("default", tag));
        Assert.False(A.Get<TopicSubscriptions>().IsSubscribedToTag("default", tag));
        Assert.False(B.Get<TopicSubscriptions>().IsSubscribedToTag("default", tag));
        Assert.False(C.Get<TopicSubscriptions>().IsSubscribedToBroadcast("default"));

        await A.Get<ICacheHub>().InvalidateAsync(tag);
        Assert.Equal(tag, (await stream.NextAsync("the tag's event, published on another silo")).Data);

        var subscriptions = C.Get<TopicSubscriptions>();
        var changed = subscriptions.WhenChanged();
        using var change = new HttpRequestMessage(HttpMethod.Post, $"/api/cache-events/{id}/interests") { Content = JsonContent.Create(new { add = new[] { "something-else" }, remove = new[] { tag } }) };
        change.Headers.Add("X-Stream-Key", stream.StreamKey);
        using var removed = await C.Http.SendAsync(change);
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        await WaitAsync(subscriptions, () => !subscriptions.IsSubscribedToTag("default", tag), changed, "waiting for silo C to leave the tag's stream after the interest was removed");

        await A.Get<ICacheHub>().InvalidateAsync(tag);
        await A.Get<ICacheHub>().InvalidateAsync("something-else");
        Assert.Equal("something-else", (await stream.NextAsync("the event of the new interest, not the removed one")).Data);
    }

    private static async Task<SseClient> OpenAsync(TestFrontend silo, string query) =>
        (await SseClient.ConnectAndWaitAsync(silo.Http, "/api/cache-events" + query)).Client;

    private static async Task WaitAsync(TopicSubscriptions subscriptions, Func<bool> condition, Task changed, string phase)
    {
        using var cts = new CancellationTokenSource(Timeouts.Default);
        while (!condition())
        {
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{phase}: not within {Timeouts.Default}.");
            }

            changed = subscriptions.WhenChanged();
        }
    }
}
