using System.Text.Json;
using CountCachula.WebFrontend.Dashboard;
using CountCachula.AspNetCore.Dashboard;

namespace CountCachula.Tests.Product;

/// <summary>The dashboard's history: ten minutes of points, bounded in count, in width and, as sent, in bytes.</summary>
public sealed class DashboardHistoryTests
{
    private static readonly DateTime s_start = new(2026, 11, 29, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void A_quiet_cluster_sends_every_step_of_the_last_ten_minutes()
    {
        var history = new DashboardHistory();
        for (var second = 0; second < 2 * DashboardHistory.Capacity; second++)
        {
            history.Add(s_start.AddSeconds(second), [Silo("silo-a", tenants: 1, eventsPerSecond: second)]);
        }

        using var json = JsonDocument.Parse(history.ToJson(64 * 1024));
        var times = json.RootElement.GetProperty("times");

        // The ring kept the last 600 seconds, sent as 5-second averages, oldest first.
        Assert.Equal(DashboardHistory.Capacity / DashboardHistory.StepSeconds, times.GetArrayLength());
        Assert.Equal(new DateTimeOffset(s_start.AddSeconds(2 * DashboardHistory.Capacity - 1)).ToUnixTimeMilliseconds(), times[times.GetArrayLength() - 1].GetInt64());
        var events = json.RootElement.GetProperty("cluster").GetProperty("events");
        Assert.Equal(1197, events[events.GetArrayLength() - 1].GetDouble());
        Assert.Equal(1197, json.RootElement.GetProperty("silos").GetProperty("silo-a").GetProperty("events")[times.GetArrayLength() - 1].GetDouble());
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(64 * 1024)]
    public void A_busy_wide_cluster_is_cut_to_the_cap_keeping_the_newest_steps(int maxBytes)
    {
        var history = new DashboardHistory();
        for (var second = 0; second < DashboardHistory.Capacity; second++)
        {
            history.Add(s_start.AddSeconds(second), [.. Enumerable.Range(0, 40).Select(i => Silo($"10.0.0.{i}:11111@{second / 60}", tenants: 60, eventsPerSecond: 123456.7 + second))]);
        }

        var bytes = history.ToJson(maxBytes);
        Assert.True(bytes.Length <= maxBytes, $"The history is {bytes.Length} bytes long.");
        using var json = JsonDocument.Parse(bytes);
        var root = json.RootElement;
        Assert.True(root.GetProperty("times").GetArrayLength() > 0, "The newest steps are kept.");

        // Per point at most 16 silos and 20 tenants by name, plus the sum of the other tenants.
        Assert.True(root.GetProperty("tenants").EnumerateObject().Count() <= DashboardHistory.MaxTenants + 1);
        Assert.Contains(root.GetProperty("tenants").EnumerateObject(), t => t.Name == DashboardReporter.OtherTenants);
    }

    [Fact]
    public void A_snapshot_names_the_busiest_tenants_and_sums_up_the_others()
    {
        // 30 tenants: tenant-i holds i + 1 streams, so the 20 busiest are tenant-10 to tenant-29.
        var registry = new AspNetCore.Delivery.ConnectionRegistry(new AspNetCore.Delivery.WriterShards());
        for (var tenant = 0; tenant < 30; tenant++)
        {
            for (var stream = 0; stream <= tenant; stream++)
            {
                registry.Add(new AspNetCore.Delivery.SseConnection(registry.WriterShards, $"{tenant}-{stream}", $"tenant-{tenant}", capacity: 8));
            }
        }

        var shown = DashboardReporter.ConnectionsByTenant(registry);

        Assert.Equal(DashboardReporter.MaxTenantsShown + 1, shown.Count);
        Assert.All(Enumerable.Range(10, 20), t => Assert.Equal(t + 1, shown[$"tenant-{t}"]));
        Assert.Equal(Enumerable.Range(1, 10).Sum(), shown[DashboardReporter.OtherTenants]);
    }

    [Fact]
    public void Ties_at_the_cut_keep_the_tenant_names_that_sort_first()
    {
        var registry = new AspNetCore.Delivery.ConnectionRegistry(new AspNetCore.Delivery.WriterShards());
        for (var tenant = 0; tenant < 25; tenant++)
        {
            registry.Add(new AspNetCore.Delivery.SseConnection(registry.WriterShards, $"{tenant}", $"tenant-{tenant:D2}", capacity: 8));
        }

        var shown = DashboardReporter.ConnectionsByTenant(registry);

        string[] expected = [.. Enumerable.Range(0, 20).Select(t => $"tenant-{t:D2}"), DashboardReporter.OtherTenants];
        Assert.Equal(expected.Order(StringComparer.Ordinal), shown.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(5, shown[DashboardReporter.OtherTenants]);
    }

    private static SiloSnapshot Silo(string id, int tenants, double eventsPerSecond) => new()
    {
        Silo = id,
        TakenAtUtc = s_start,
        ConnectionsByTenant = Enumerable.Range(0, tenants).ToDictionary(i => $"tenant-with-a-long-name-{i:D4}", i => 1000 + i),
        EventsPerSecond = eventsPerSecond,
        DeliveriesPerSecond = eventsPerSecond * 10,
        LatencyP50Ms = 1.25,
        LatencyP99Ms = 12.5,
        StreamSubscriptions = 2,
        CoalescingsPerSecond = 0,
        EventsPerSecondByTenant = Enumerable.Range(0, tenants).ToDictionary(i => $"tenant-with-a-long-name-{i:D4}", i => 10.5),
    };
}
