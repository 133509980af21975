using CountCachula.Tests.Infrastructure;
using Microsoft.Playwright;

namespace CountCachula.Tests.Product;

/// <summary>The dashboard in a real browser: Debian's headless Chromium, driven by Playwright.</summary>
public sealed class DashboardBrowserTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task Publishing_from_the_dashboard_shows_the_event_live()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install -y chromium (.ci/run does).");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(frontend.BaseAddress, "/dashboard").ToString());

        // The page is live once its stream delivered a snapshot that lists this silo.
        await page.Locator("#status", new() { HasTextString = "live" }).WaitForAsync(new() { Timeout = 20_000 });
        await page.Locator("#silos tr").First.WaitForAsync(new() { Timeout = 20_000 });

        var tag = "from-the-browser:" + Guid.NewGuid().ToString("N")[..8];
        await page.FillAsync("#publish-tags", tag);
        await page.ClickAsync("#publish button");

        await page.Locator("#publish-result", new() { HasTextString = "published" }).WaitForAsync(new() { Timeout = 20_000 });
        await page.Locator("#events td", new() { HasTextString = tag }).WaitForAsync(new() { Timeout = 20_000 });

        var artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        var screenshot = Path.Combine(artifacts, "dashboard.png");
        await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        Assert.True(new FileInfo(screenshot).Length > 0);
    }
}
