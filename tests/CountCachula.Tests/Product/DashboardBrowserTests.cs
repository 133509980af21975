using System.Globalization;
using CountCachula.Tests.Infrastructure;
using CountCachula.AspNetCore.Publishing;
using Microsoft.Playwright;

namespace CountCachula.Tests.Product;

/// <summary>The dashboard in a real browser: Debian's headless Chromium, driven by Playwright.</summary>
public sealed class DashboardBrowserTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    // How many points of the events chart are above zero (y = 100 is the zero line).
    private const string PointsAboveZero = """
        () => [...document.querySelectorAll('#chart-events polyline')]
            .flatMap(line => line.getAttribute('points').split(' ')).filter(xy => Number(xy.split(',')[1]) < 100).length
        """;

    [Fact]
    public async Task Publishing_from_the_dashboard_shows_the_event_live()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync();
        await OpenAsync(page);

        var tag = "from-the-browser:" + Guid.NewGuid().ToString("N")[..8];
        await page.FillAsync("#publish-tags", tag);
        await page.ClickAsync("#publish button");

        await page.Locator("#publish-result", new() { HasTextString = "published" }).WaitForAsync();
        var row = page.Locator("#events tr", new() { HasTextString = tag });
        await row.WaitForAsync();

        // The 16-digit id shows as its last six digits; the whole id is in the cell's title.
        var id = row.Locator("td.id");
        var full = await id.GetAttributeAsync("title");
        Assert.Matches("^[0-9]{16,19}$", full);
        Assert.Equal("…" + full![^6..], await id.TextContentAsync());

        await Browser.ScreenshotAsync(page, "dashboard.png");
    }

    [Fact]
    public async Task The_charts_move_when_events_are_published_and_a_new_viewer_sees_them_at_once()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync();
        // A silo dispatches (and counts) the events of a tenant only while one of its connections listens.
        await using var listener = (await SseClient.ConnectAndWaitAsync(frontend.Http)).Client;
        await OpenAsync(page);
        var before = await page.EvaluateAsync<int>(PointsAboveZero);

        var hub = frontend.Get<ICacheHub>();
        for (var i = 0; i < 5; i++)
        {
            await hub.InvalidateAsync("chart-" + i);
        }

        // The next point the silo reports carries the events: one more point of the line leaves the zero line.
        await page.WaitForFunctionAsync($"() => ({PointsAboveZero})() > {before}");
        for (var i = 0; i < 5; i++)
        {
            await listener.NextOfTypeAsync("invalidate", $"the listener gets invalidation {i}");
        }

        Assert.True(int.Parse(await page.GetAttributeAsync("#chart-events", "data-points") ?? "0", CultureInfo.InvariantCulture) >= 2);

        // A dashboard opened afterwards draws the traffic at once, from the history it is sent on connecting.
        var fresh = await browser.NewPageAsync();
        await fresh.GotoAsync(new Uri(frontend.BaseAddress, "/dashboard").ToString());
        await fresh.WaitForFunctionAsync($"() => ({PointsAboveZero})() > 0");

        // Per silo, the chart has a line named after this silo.
        await page.CheckAsync("input[name=by][value=silo]");
        await page.Locator("#chart-events .legend span").First.WaitForAsync();
        Assert.Contains(":", await page.Locator("#chart-events .legend span").First.TextContentAsync());
        await Browser.ScreenshotAsync(page, "dashboard-charts-per-silo.png");

        // Per tenant, the events and connections charts have a line for the tenant the listener belongs to.
        await page.CheckAsync("input[name=by][value=tenant]");
        await page.Locator("#chart-connections .legend span", new() { HasTextString = "default" }).WaitForAsync();
        await page.Locator("#chart-events .legend span", new() { HasTextString = "default" }).WaitForAsync();
        await Browser.ScreenshotAsync(page, "dashboard-charts-per-tenant.png");
    }

    [Theory]
    [InlineData(390)]
    [InlineData(1280)]
    public async Task The_dashboard_fits_its_window(int width)
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync(width);
        var failed = Browser.FailedRequests(page);
        await using var listener = (await SseClient.ConnectAndWaitAsync(frontend.Http)).Client;
        await OpenAsync(page);
        await frontend.Get<ICacheHub>().InvalidateAsync("layout:" + Guid.NewGuid().ToString("N"));
        await listener.NextOfTypeAsync("invalidate", "the listener gets the invalidation");
        await page.Locator("#events td.time").First.WaitForAsync();

        foreach (var chart in new[] { "events", "deliveries", "connections", "latency", "coalescings" })
        {
            Assert.True(await page.Locator($"#chart-{chart} svg").IsVisibleAsync(), $"The {chart} chart is not visible at {width} px.");
        }

        Assert.True(await page.Locator("#total-connections").IsVisibleAsync());

        // "1 connection", "1 silo"; "2 connections". The page redraws every second, so the count and its label are read
        // together, in one turn of the page's script, never from two different redraws.
        var total = await page.EvaluateAsync<string[]>(
            "() => [document.querySelector('#total-connections').textContent, document.querySelector('#total-connections-label').textContent]");
        Assert.Equal(total[0] == "1" ? "connection" : "connections", total[1]);
        Assert.Equal("silo", await page.Locator("#total-silos-label").TextContentAsync());
        await Browser.AssertNoSidewaysScrollAsync(page, $"The dashboard at {width} px");
        Assert.Equal(1, await page.EvaluateAsync<int>("() => document.querySelector('#events td.time').getClientRects().length"));
        Assert.True(failed.Count == 0, string.Join("; ", failed));
        await Browser.ScreenshotAsync(page, $"dashboard-{width}.png");
    }

    /// <summary>Opens the dashboard and waits until its stream delivered a snapshot that lists this silo and a chart point.</summary>
    private async Task OpenAsync(IPage page)
    {
        await page.GotoAsync(new Uri(frontend.BaseAddress, "/dashboard").ToString());
        await page.Locator("#status", new() { HasTextString = "live" }).WaitForAsync();
        await page.Locator("#silos tr").First.WaitForAsync();
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#chart-events').dataset.points) > 0");
    }
}
