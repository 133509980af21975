namespace CountCachula.WebFrontend.Hosting;

/// <summary>Serves the demo page, embedded in the assembly so it works wherever the app is hosted from.</summary>
public static class DemoPageEndpoint
{
    private static readonly Lazy<byte[]> s_page = new(() =>
    {
        using var stream = typeof(DemoPageEndpoint).Assembly.GetManifestResourceStream("CountCachula.Pages.index.html")
            ?? throw new InvalidOperationException("The demo page is not embedded in the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>Maps <c>GET /</c> to the demo page.</summary>
    public static RouteHandlerBuilder MapDemoPage(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapGet("/", () => Results.Bytes(s_page.Value, "text/html; charset=utf-8")).ExcludeFromDescription();
}
