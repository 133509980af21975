using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using CountCachula.WebFrontend.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace CountCachula.WebFrontend.Dashboard;

/// <summary>The live dashboard: a page, and the SSE stream of cluster figures that keeps it current.</summary>
public static class DashboardEndpoints
{
    /// <summary>The key of the cluster's <see cref="IDashboardGrain"/>, which every frontend reports to.</summary>
    private const string ClusterKey = "cluster";

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    private static readonly EmbeddedPage s_page = new("dashboard.html");

    /// <summary>Maps <c>GET {pattern}</c> (the page) and <c>GET {pattern}/stream</c> (its data, one snapshot a second).</summary>
    public static RouteGroupBuilder MapCacheDashboard(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern = "/dashboard")
    {
        var group = endpoints.MapGroup(pattern).ExcludeFromDescription();
        group.MapGet("/", s_page.Result);
        group.MapGet("/stream", StreamAsync);
        return group;
    }

    private static async Task StreamAsync(HttpContext context, IGrainFactory grains, IOptions<CountCachulaOptions> options, IHostEnvironment environment)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var aborted = context.RequestAborted;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            do
            {
                var silos = await grains.GetGrain<IDashboardGrain>(ClusterKey).Silos();
                var recent = await grains.GetGrain<ICacheHubGrain>(options.Value.DefaultTenant).Recent(30);
                var view = new DashboardView(silos, [.. recent.Select(RecentEvent.From)], environment.IsDevelopment());
                await response.WriteAsync($"event: snapshot\ndata: {JsonSerializer.Serialize(view, s_json)}\n\n", aborted);
                await response.Body.FlushAsync(aborted);
            }
            while (await timer.WaitForNextTickAsync(aborted));
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The page was closed.
        }
    }

    private sealed record DashboardView(IReadOnlyList<SiloSnapshot> Silos, IReadOnlyList<RecentEvent> RecentEvents, bool CanPublish);
}
