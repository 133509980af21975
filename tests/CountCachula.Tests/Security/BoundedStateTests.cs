using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using CountCachula.Grains;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Streaming;
using CountCachula.Runtime.Metrics;

namespace CountCachula.Tests.Security;

/// <summary>A hub that gives only two tenants a metric label of their own.</summary>
public sealed class TwoLabelsFixture : FrontendFixture
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings => [new("CountCachula:Metrics:MaxTenantLabels", "2")];
}

/// <summary>
/// State that many tenants, or one hostile publisher, could otherwise grow without end: the registry's per-tenant
/// entries, the tenant label of the metrics, and the dashboard's snapshots.
/// </summary>
public sealed class BoundedStateTests(TwoLabelsFixture fixture) : IClassFixture<TwoLabelsFixture>
{
    [Fact]
    public async Task The_registry_forgets_a_tenant_when_its_last_connection_leaves()
    {
        var registry = new ConnectionRegistry(new WriterShards());
        await Parallel.ForAsync(0, 10_000, async (i, _) =>
        {
            var first = new SseConnection(registry.WriterShards, $"a{i}", $"tenant-{i % 2_500}", 16);
            var second = new SseConnection(registry.WriterShards, $"b{i}", $"tenant-{i % 2_500}", 16);
            registry.Add(first);
            registry.Add(second);
            await Task.Yield();
            registry.Remove(first);
            registry.Remove(second);
        });

        Assert.Equal(0, registry.Count);
        Assert.Empty(registry.Tenants);
    }

    [Fact]
    public async Task Streams_of_many_tenants_leave_no_tenant_behind()
    {
        var prefix = "evict-" + Guid.NewGuid().ToString("N")[..6] + "-";
        var clients = new List<SseClient>();
        for (var i = 0; i < 40; i++)
        {
            clients.Add((await SseClient.ConnectAndWaitAsync(fixture.Http, $"/api/cache-events?tenant={prefix}{i}")).Client);
        }

        Assert.Equal(40, fixture.Registry.Tenants.Count(t => t.StartsWith(prefix, StringComparison.Ordinal)));
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        await fixture.Registry.UntilAsync(r => !r.Tenants.Any(t => t.StartsWith(prefix, StringComparison.Ordinal)), "waiting for the 40 tenants to leave the registry");
    }

    [Fact]
    public void Tenant_labels_beyond_the_limit_are_other()
    {
        var labels = new TenantLabels(limit: 3);

        string[] seen = [.. new[] { "a", "b", "a", "c", "d", "e", "b" }.Select(labels.For)];

        Assert.Equal(["a", "b", "a", "c", TenantLabels.Other, TenantLabels.Other, "b"], seen);
    }

    [Fact]
    public async Task The_metrics_name_at_most_the_configured_number_of_tenants()
    {
        var factory = fixture.Get<IMeterFactory>();
        var labels = new ConcurrentDictionary<(string Instrument, string Tenant), bool>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == CountCachulaMetrics.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "tenant")
                {
                    labels[(instrument.Name, (string)tag.Value!)] = true;
                }
            }
        });
        listener.Start();

        var hub = fixture.Get<ICacheHub>();
        var tenants = Enumerable.Range(0, 5).Select(i => $"label-{Guid.NewGuid().ToString("N")[..6]}-{i}").ToArray();
        foreach (var tenant in tenants)
        {
            await using var client = (await SseClient.ConnectAndWaitAsync(fixture.Http, "/api/cache-events?tenant=" + tenant)).Client;
            await hub.ForTenant(tenant).InvalidateAsync("x");
            await client.NextOfTypeAsync("invalidate", $"{tenant}'s event");
        }

        foreach (var instrument in new[] { "countcachula.connections", "countcachula.hub.events.published" })
        {
            var named = labels.Keys.Where(k => k.Instrument == instrument).Select(k => k.Tenant).ToHashSet();
            Assert.Contains(TenantLabels.Other, named);
            Assert.True(named.Count(t => t != TenantLabels.Other) <= 2, $"{instrument}: more than 2 tenant labels: {string.Join(", ", named)}");
        }
    }

    [Fact]
    public async Task A_dashboard_snapshot_stays_under_its_cap_however_large_the_events()
    {
        // The amplifier of the issue: 30 custom events of 60,000 '"' characters (each escaped to two in JSON).
        var hub = fixture.Get<ICacheHub>();
        var huge = new string('"', 60_000);
        for (var i = 0; i < 30; i++)
        {
            await hub.BroadcastAsync("entity-update", huge);
        }

        await using var dashboard = await SseClient.ConnectAsync(fixture.Http, "/dashboard/stream");
        var snapshot = await dashboard.NextOfTypeAsync("snapshot", "the first dashboard snapshot");

        Assert.True(snapshot.Data.Length <= 64 * 1024, $"The snapshot is {snapshot.Data.Length} characters long.");
        using var json = JsonDocument.Parse(snapshot.Data);
        var recent = json.RootElement.GetProperty("recentEvents");
        Assert.True(recent.GetArrayLength() > 0, "The snapshot still lists the latest events.");
        Assert.EndsWith("(60000 characters)", recent[0].GetProperty("items")[0].GetString());
    }
}
