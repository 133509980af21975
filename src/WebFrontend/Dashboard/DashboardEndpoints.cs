using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using CountCachula.WebFrontend.Hosting;
using CountCachula.AspNetCore;
using CountCachula.AspNetCore.Dashboard;
using CountCachula.AspNetCore.Security;
using CountCachula.AspNetCore.Streaming;
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

    private static readonly TimeSpan s_stalledAfter = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Maps <c>GET {pattern}</c> (the page) and <c>GET {pattern}/stream</c> (its data: the last minutes once, as
    /// <c>history</c>, then one <c>snapshot</c> a second), for
    /// operators only (<see cref="CountCachulaPolicies.Operator"/>: a token with the <c>admin</c> scope, sent as the
    /// cookie or <c>?access_token=</c>, which the page passes on to its stream).
    /// </summary>
    public static RouteGroupBuilder MapCacheDashboard(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern = "/dashboard")
    {
        var group = endpoints.MapGroup(pattern).ExcludeFromDescription();
        group.RequireAuthorization(CountCachulaPolicies.Operator);
        group.MapGet("/", s_page.Result);
        group.MapGet("/stream", StreamAsync);
        return group;
    }

    private static async Task StreamAsync(
        HttpContext context, IGrainFactory grains, DashboardHistory history, IOptions<CountCachulaOptions> options, IHostEnvironment environment, IHostApplicationLifetime lifetime)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        // Ends when the page goes, or when this server stops: the page's EventSource then comes back to another one.
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var aborted = ending.Token;
        var maxBytes = options.Value.Dashboard.MaxSnapshotBytes;
        try
        {
            // The history goes first and once, under the same cap as a snapshot; the page extends it with each snapshot.
            await response.WriteAsync("event: history\ndata: ", aborted);
            await response.Body.WriteAsync(history.ToJson(maxBytes), aborted);
            await response.WriteAsync("\n\n", aborted);
            while (true)
            {
                var next = history.WhenAdded();
                var (at, silos) = history.Latest;
                var recent = await grains.GetGrain<ICacheHubGrain>(options.Value.DefaultTenant).Recent(RecentCount);
                var snapshot = Snapshot(at, silos, recent, environment.IsDevelopment(), maxBytes);
                await response.WriteAsync("event: snapshot\ndata: ", aborted);
                await response.Body.WriteAsync(snapshot, aborted);
                await response.WriteAsync("\n\n", aborted);
                await response.Body.FlushAsync(aborted);

                // One snapshot per point the reporter adds, so the page's chart misses none; while the reporter cannot
                // reach the dashboard grain, still one every few seconds, so the page lists the latest events.
                await Task.WhenAny(next, Task.Delay(s_stalledAfter, aborted));
                aborted.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The page was closed, or this server is stopping: the response ends here.
        }
    }

    /// <summary>How many of the default tenant's latest events a snapshot lists at most.</summary>
    public const int RecentCount = 30;

    /// <summary>
    /// The JSON of one snapshot, at most <paramref name="maxBytes"/> long: each event is already cut down
    /// (<see cref="RecentEvent.From"/>), and while the whole is still too large the oldest events are left out. So a
    /// viewer costs a bounded amount however large the published events were.
    /// </summary>
    internal static byte[] Snapshot(DateTime? at, IReadOnlyList<SiloSnapshot> silos, IReadOnlyList<CacheEvent> recent, bool canPublish, int maxBytes)
    {
        var events = recent.Take(RecentCount).Select(RecentEvent.From).ToList();
        while (true)
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(new DashboardView(at, silos, events, canPublish), s_json);
            if (json.Length <= maxBytes || events.Count == 0)
            {
                return json;
            }

            // The newest come first; halving keeps the number of attempts small.
            events.RemoveRange(events.Count / 2, events.Count - events.Count / 2);
        }
    }

    /// <summary>One snapshot as the page reads it.</summary>
    /// <param name="At">When the silos' figures were read (the time of the page's newest chart point); null before the first.</param>
    /// <param name="Silos">Every silo's latest figures.</param>
    /// <param name="RecentEvents">The default tenant's latest events, newest first.</param>
    /// <param name="CanPublish">Whether the page offers its publish form (Development only).</param>
    private sealed record DashboardView(DateTime? At, IReadOnlyList<SiloSnapshot> Silos, IReadOnlyList<RecentEvent> RecentEvents, bool CanPublish);
}
