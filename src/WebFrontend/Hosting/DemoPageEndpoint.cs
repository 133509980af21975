namespace CountCachula.WebFrontend.Hosting;

/// <summary>Serves the demo page.</summary>
public static class DemoPageEndpoint
{
    private static readonly EmbeddedPage s_page = new("index.html");

    /// <summary>Maps <c>GET /</c> to the demo page.</summary>
    public static RouteHandlerBuilder MapDemoPage(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapGet("/", s_page.Result).ExcludeFromDescription();
}
