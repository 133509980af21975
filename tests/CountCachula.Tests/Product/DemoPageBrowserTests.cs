using CountCachula.Tests.Infrastructure;
using CountCachula.Tests.Security;
using CountCachula.WebFrontend.Hosting;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Security;
using Microsoft.Playwright;

namespace CountCachula.Tests.Product;

/// <summary>The demo page at <c>/</c> in Debian's headless Chromium: what a newcomer sees on a phone and on a laptop.</summary>
public sealed class DemoPageBrowserTests(FrontendFixture frontend) : IClassFixture<FrontendFixture>
{
    [Theory]
    [InlineData(390)]
    [InlineData(1280)]
    public async Task The_demo_page_fits_its_window_and_shows_every_kind_of_event(int width)
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync(width);
        var failed = Browser.FailedRequests(page);
        await OpenAsync(page, "/");

        // A response shown (the case that used to widen the page), an invalidation, a custom event.
        await page.ClickAsync("#create");
        await page.Locator("#tags", new() { HasTextString = "201" }).WaitForAsync();
        await page.Locator("#events li.invalidate").First.WaitForAsync();
        await page.ClickAsync("#custom button");
        await page.Locator("#events li.custom", new() { HasTextString = "demo-note" }).WaitForAsync();
        await page.FillAsync("#custom-name", "entity-update");
        await page.ClickAsync("#custom button");
        await page.Locator("#events li.custom", new() { HasTextString = "entity-update" }).First.WaitForAsync();

        // Now that the page listens for it, the application's own event with data that has nowhere to break.
        await frontend.Get<ICacheHub>().BroadcastAsync("entity-update", """{"id":"a-rather-long-identifier-without-any-space-in-it-at-all-0123456789abcdef"}""");
        await page.Locator("#events li.custom", new() { HasTextString = "0123456789abcdef" }).WaitForAsync();

        await Browser.AssertNoSidewaysScrollAsync(page, $"The demo page at {width} px");
        Assert.True(await page.Locator("#body").IsVisibleAsync());

        // Each entry's number sits inside the list (not cut off at its left edge), its time on one line.
        var list = (await page.Locator("#events").BoundingBoxAsync())!;
        foreach (var number in await page.Locator("#events li .n").AllAsync())
        {
            var box = (await number.BoundingBoxAsync())!;
            Assert.True(box.X >= list.X && box.X + box.Width <= list.X + list.Width, $"A list number lies at {box.X}..{box.X + box.Width}, outside the list's {list.X}..{list.X + list.Width}.");
        }

        Assert.Equal(1, await page.EvaluateAsync<int>("() => document.querySelector('#events li time').getClientRects().length"));

        // An id shows as its last six digits, the whole in the title.
        var id = page.Locator("#events li.invalidate .id").First;
        var title = await id.GetAttributeAsync("title");
        Assert.Matches("^id [0-9]{16,19}$", title);
        Assert.Equal("#…" + title![^6..], await id.TextContentAsync());

        Assert.True(failed.Count == 0, string.Join("; ", failed));
        Assert.Equal(1, await page.Locator("link[rel=icon]").CountAsync());
        await Browser.ScreenshotAsync(page, $"demo-{width}.png");
    }

    [Fact]
    public async Task A_resume_point_the_hub_cannot_honour_shows_as_a_reset()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync(390);
        await OpenAsync(page, "/?lastEventId=not-an-id-this-hub-issued");

        await page.Locator("#events li.reset", new() { HasTextString = "history-unavailable" }).WaitForAsync();
        await page.Locator("#events li.invalidate", new() { HasTextString = "*" }).WaitForAsync();
        await Browser.ScreenshotAsync(page, "demo-reset.png");
    }

    /// <summary>Opens <paramref name="path"/> and waits until the page's stream is connected.</summary>
    private async Task OpenAsync(IPage page, string path)
    {
        await page.GotoAsync(new Uri(frontend.BaseAddress, path).ToString());
        await page.Locator("#status", new() { HasTextString = "open" }).WaitForAsync();
        await page.Locator("#events li.connected").WaitForAsync();
    }
}

/// <summary>The demo page with authentication on: what it shows when the token it was opened with runs out.</summary>
public sealed class DemoPageTokenTests(AuthFixture fixture) : IClassFixture<AuthFixture>
{
    [Fact]
    public async Task An_expired_token_shows_as_auth_expired_and_the_page_stops_reconnecting()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync(390);
        var token = CountCachulaAccess.MintToken(AuthFixture.Key, "acme", TimeSpan.FromSeconds(2), ["*"]);
        await page.GotoAsync(new Uri(fixture.BaseAddress, "/?access_token=" + token).ToString());
        await page.Locator("#events li.connected").WaitForAsync();

        await page.Locator("#events li.auth-expired").WaitForAsync(new() { Timeout = 20_000 });
        await page.Locator("#status", new() { HasTextString = "token expired" }).WaitForAsync();
        await Browser.ScreenshotAsync(page, "demo-auth-expired.png");
    }
}
