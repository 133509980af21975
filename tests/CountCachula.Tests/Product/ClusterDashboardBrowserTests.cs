using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Product;

/// <summary>The dashboard of a three-silo cluster in Chromium: any silo's page draws every silo and every tenant.</summary>
public sealed class ClusterDashboardBrowserTests(ThreeSiloFixture cluster) : IClassFixture<ThreeSiloFixture>
{
    [Fact]
    public async Task One_silos_dashboard_draws_a_line_per_silo_and_per_tenant()
    {
        // One listener on each silo, each of another tenant.
        var tenants = new[] { "north", "east", "south" }.Select(t => t + "-" + Guid.NewGuid().ToString("N")[..6]).ToArray();
        var listeners = new List<SseClient>();
        for (var i = 0; i < 3; i++)
        {
            listeners.Add((await SseClient.ConnectAndWaitAsync(cluster.Silos[i].Http, "/api/cache-events?tenant=" + tenants[i])).Client);
        }

        try
        {
            await using var browser = await Browser.LaunchAsync();
            var page = await browser.NewPageAsync();
            await page.GotoAsync(new Uri(cluster.Silos[0].BaseAddress, "/dashboard").ToString());
            await page.Locator("#status", new() { HasTextString = "live" }).WaitForAsync();

            // The table and the per-silo lines name all three silos once each has reported a connection.
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#silos tr').length === 3 && Number(document.querySelector('#total-connections').textContent) >= 3");
            await page.CheckAsync("input[name=by][value=silo]");
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#chart-connections .legend span').length === 3");

            await page.CheckAsync("input[name=by][value=tenant]");
            foreach (var tenant in tenants)
            {
                await page.Locator("#chart-connections .legend span", new() { HasTextString = tenant }).WaitForAsync();
            }

            await Browser.AssertNoSidewaysScrollAsync(page, "The cluster's dashboard at 1280 px");
            await Browser.ScreenshotAsync(page, "dashboard-cluster-per-tenant.png");
        }
        finally
        {
            foreach (var listener in listeners)
            {
                await listener.DisposeAsync();
            }
        }
    }
}
