using System.Net.Http.Headers;
using CountCachula.Tests.Infrastructure;
using CountCachula.WebFrontend.Hosting;
using CountCachula.AspNetCore.Publishing;

namespace CountCachula.Tests.Security;

/// <summary>
/// Property test: two tenants use the same tag names; connections of both (tokens for their tenant, random interests)
/// watch 10,000 random invalidations spread over the two. Each connection must receive exactly its own tenant's
/// events that match its interests, in order, with exactly the matching tags — nothing of the other tenant.
/// </summary>
public sealed class TenantIsolationTests(AuthFixture fixture) : IClassFixture<AuthFixture>
{
    private const int Events = 10_000;
    private static readonly string[] Pool = [.. Enumerable.Range(0, 8).Select(i => $"t{i}"), .. Enumerable.Range(0, 12).Select(i => $"user:{i}")];
    private static readonly string[] Patterns = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "user:*", "user:1*", "user:3", "*"];

    [Fact]
    public async Task No_event_or_tag_name_crosses_tenants()
    {
        var random = new Random(20261127);
        string[] tenants = ["acme", "globex"];
        var subscribers = new List<(string Tenant, string[] Interests, SseClient Client)>();
        try
        {
            foreach (var tenant in tenants)
            {
                for (var c = 0; c < 6; c++)
                {
                    var interests = Patterns.OrderBy(_ => random.Next()).Take(random.Next(1, 4)).Append("sentinel").Distinct().ToArray();
                    var token = AuthFixture.Token(tenant);
                    var client = await SseClient.ConnectAsync(fixture.Http, "/api/cache-events?tags=" + Uri.EscapeDataString(string.Join(',', interests)),
                        configure: request => request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token));
                    subscribers.Add((tenant, interests, client));
                    await client.NextOfTypeAsync("connected", $"{tenant} subscriber {c} connected");
                }
            }

            // 10,000 events, each for a random tenant, with 1-3 random tags from the pool both tenants share.
            var published = tenants.ToDictionary(t => t, _ => new List<string[]>());
            var hubs = tenants.ToDictionary(t => t, t => fixture.Get<ICacheHub>().ForTenant(t));
            for (var k = 0; k < Events; k++)
            {
                var tenant = tenants[random.Next(2)];
                var tags = Pool.OrderBy(_ => random.Next()).Take(random.Next(1, 4)).ToArray();
                published[tenant].Add(tags);
                await hubs[tenant].InvalidateAsync(tags);
            }

            foreach (var tenant in tenants)
            {
                await hubs[tenant].InvalidateAsync("sentinel");
            }

            foreach (var (tenant, interests, client) in subscribers)
            {
                var expected = published[tenant]
                    .Select(tags => tags.Where(tag => interests.Any(i => Matches(i, tag))).ToArray())
                    .Where(matched => matched.Length > 0)
                    .Select(matched => string.Join(',', matched))
                    .ToList();
                var received = new List<string>();
                while (true)
                {
                    var item = await client.NextOfTypeAsync("invalidate", $"{tenant} subscriber [{string.Join(' ', interests)}] after {received.Count} of {expected.Count}");
                    if (item.Data == "sentinel")
                    {
                        break;
                    }

                    received.Add(item.Data);
                }

                Assert.Equal(expected.Count, received.Count);
                for (var i = 0; i < expected.Count; i++)
                {
                    Assert.True(expected[i] == received[i], $"{tenant} [{string.Join(' ', interests)}] event {i}: expected '{expected[i]}', got '{received[i]}'");
                }
            }
        }
        finally
        {
            foreach (var (_, _, client) in subscribers)
            {
                await client.DisposeAsync();
            }
        }
    }

    private static bool Matches(string interest, string tag) =>
        interest == "*" || (interest.EndsWith('*') ? tag.StartsWith(interest[..^1], StringComparison.Ordinal) : tag == interest);
}
