using Microsoft.Playwright;

namespace CountCachula.Tests.Product;

/// <summary>
/// Debian's headless Chromium (<c>/usr/bin/chromium</c>, never a downloaded one) driven by Playwright, with the checks
/// the page tests share: no sideways overflow, no failed request, a screenshot to look at.
/// </summary>
internal sealed class Browser : IAsyncDisposable
{
    public const string Chromium = "/usr/bin/chromium";

    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private Browser(IPlaywright playwright, IBrowser browser) => (_playwright, _browser) = (playwright, browser);

    /// <summary>Where the screenshots go: <c>artifacts/</c> beside the test assembly.</summary>
    public static string Artifacts { get; } = Path.Combine(AppContext.BaseDirectory, "artifacts");

    public static async Task<Browser> LaunchAsync()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install -y chromium (.ci/run does).");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        return new Browser(playwright, browser);
    }

    /// <summary>A page <paramref name="width"/> CSS pixels wide (a phone at 390, a laptop at 1,280).</summary>
    public async Task<IPage> NewPageAsync(int width = 1280)
    {
        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = width, Height = width < 600 ? 844 : 800 } });
        page.SetDefaultTimeout(20_000);
        return page;
    }

    /// <summary>Records every response of <paramref name="page"/> that failed (a 404 favicon, say), to assert on later.</summary>
    public static List<string> FailedRequests(IPage page)
    {
        var failed = new List<string>();
        page.Response += (_, response) =>
        {
            if (response.Status >= 400)
            {
                lock (failed)
                {
                    failed.Add($"{response.Status} {response.Url}");
                }
            }
        };
        page.RequestFailed += (_, request) =>
        {
            // An EventSource closed by the page ends as an aborted request; that is not a failure of the page.
            if (!request.Url.Contains("/stream", StringComparison.Ordinal) && !request.Url.Contains("/api/cache-events", StringComparison.Ordinal))
            {
                lock (failed)
                {
                    failed.Add($"{request.Failure}: {request.Method} {request.Url}");
                }
            }
        };
        return failed;
    }

    /// <summary>Asserts that the page is no wider than its window: nothing makes a reader scroll sideways.</summary>
    public static async Task AssertNoSidewaysScrollAsync(IPage page, string what)
    {
        var widths = await page.EvaluateAsync<int[]>("() => [document.documentElement.scrollWidth, window.innerWidth]");
        var (scroll, inner) = (widths[0], widths[1]);
        Assert.True(scroll <= inner, $"{what}: the page is {scroll} px wide in a {inner} px window.");
    }

    /// <summary>Takes a full-page screenshot into <see cref="Artifacts"/>.</summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(Artifacts);
        var path = Path.Combine(Artifacts, name);
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        Assert.True(new FileInfo(path).Length > 0);
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}
