using System.Net;
using System.Net.Http.Json;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Streaming;

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
    public async Task Only_the_silo_whose_connection_wants_a_tag_is_its_listener_and_it_stops_when_the_interest_goes()
    {
        var tag = "only-on-c:" + Guid.NewGuid().ToString("N")[..6];
        var topic = A.Get<IGrainFactory>().GetGrain<ITagTopicGrain>(CacheTopics.TopicKeyFor("default", tag));
        var (stream, id) = await SseClient.ConnectAndWaitAsync(C.Http, $"/api/cache-events?tags={tag}");
        await using var _ = stream;

        var c = C.Get<TopicSubscriptions>();
        Assert.Equal([c.ListenerId], await topic.ListenersOf(tag));
        Assert.Contains(tag, c.RegisteredTags("default"));
        Assert.DoesNotContain(tag, A.Get<TopicSubscriptions>().RegisteredTags("default"));
        Assert.DoesNotContain(tag, B.Get<TopicSubscriptions>().RegisteredTags("default"));
        Assert.True(c.IsSubscribedToInbox("default"));
        Assert.DoesNotContain(c.ListenerId, await A.Get<IGrainFactory>().GetGrain<IBroadcastGrain>("default").Listeners(BroadcastInterest.Everything));

        await A.Get<ICacheHub>().InvalidateAsync(tag);
        Assert.Equal(tag, (await stream.NextAsync("the tag's event, published on another silo")).Data);

        var changed = c.WhenChanged();
        using var change = new HttpRequestMessage(HttpMethod.Post, $"/api/cache-events/{id}/interests") { Content = JsonContent.Create(new { add = new[] { "something-else" }, remove = new[] { tag } }) };
        change.Headers.Add("X-Stream-Key", stream.StreamKey);
        using var removed = await C.Http.SendAsync(change);
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        await WaitAsync(c, () => !c.RegisteredTags("default").Contains(tag), changed, "waiting for silo C to unregister the tag after the interest was removed");
        Assert.Empty(await topic.ListenersOf(tag));

        await A.Get<ICacheHub>().InvalidateAsync(tag);
        await A.Get<ICacheHub>().InvalidateAsync("something-else");
        Assert.Equal("something-else", (await stream.NextAsync("the event of the new interest, not the removed one")).Data);
    }

    [Fact]
    public async Task A_stream_with_a_thousand_tags_connects_and_registers_them_with_their_shards()
    {
        // Short tags, so the thousand fit in one request line (Kestrel's limit is 8 KB).
        const string prefix = "q";
        var tags = Enumerable.Range(0, 1000).Select(i => prefix + i).ToArray();
        var (stream, _) = await SseClient.ConnectAndWaitAsync(B.Http, "/api/cache-events?tags=" + string.Join(',', tags));
        await using var _ = stream;

        var b = B.Get<TopicSubscriptions>();
        Assert.Equal(1000, b.RegisteredTags("default").Count(t => t.StartsWith(prefix, StringComparison.Ordinal) && t[1..].All(char.IsAsciiDigit)));
        await A.Get<ICacheHub>().InvalidateAsync(tags[0], tags[999]);
        Assert.Equal($"{tags[0]},{tags[999]}", (await stream.NextAsync("an event for two of the thousand tags")).Data);
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
