using System.Net;
using CountCachula.WebFrontend.Hosting;
using CountCachula.WebFrontend.Sample;

namespace CountCachula.WebFrontend;

/// <summary>
/// Builds the frontend: one silo (Orleans co-hosted in the web app), the SSE endpoint, the publishing API, the sample
/// items API and the demo page. <c>Program.cs</c>, the tests and the benchmark all start the app through here.
/// </summary>
public static class FrontendHost
{
    /// <summary>Creates the application from command-line <paramref name="args"/> and configuration.</summary>
    /// <param name="args">Command-line arguments, e.g. <c>--urls http://127.0.0.1:5080 --Orleans:SiloPort 11112</c>.</param>
    /// <param name="configure">Last-minute changes to the builder (tests use it for logging and options).</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        RaiseThreadPoolMinimum();
        var builder = WebApplication.CreateBuilder(args);
        var orleans = builder.Configuration.GetSection("Orleans");
        builder.UseOrleans(silo =>
        {
            var siloPort = orleans.GetValue("SiloPort", 11111);
            var primaryPort = orleans.GetValue<int?>("PrimarySiloPort");
            silo.UseLocalhostClustering(
                siloPort,
                orleans.GetValue("GatewayPort", 30000),
                primaryPort is { } port && port != siloPort ? new IPEndPoint(IPAddress.Loopback, port) : null,
                orleans.GetValue("ServiceId", "countcachula")!,
                orleans.GetValue("ClusterId", "countcachula-dev")!);
            silo.AddCountCachula(hub =>
            {
                orleans.GetSection("Streams").Bind(hub);
                builder.Configuration.GetSection("CountCachula:Hub").Bind(hub);
            });
        });

        builder.Services.AddCountCachula();
        builder.Services.AddSingleton<ItemStore>();
        configure?.Invoke(builder);

        var app = builder.Build();

        // Errors the endpoints do not describe themselves (404, 405, 500) still answer as RFC 7807 ProblemDetails.
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapDemoPage();
        app.MapCacheEvents();
        app.MapCachePublishing();
        app.MapSampleItems();
        return app;
    }

    /// <summary>
    /// A fresh process on a small machine starts with as many pool threads as cores, and the pool injects more only
    /// slowly: a burst of blocking start-up work then stalls every request for about a second. Start wider.
    /// </summary>
    private static void RaiseThreadPoolMinimum()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = Math.Max(32, Environment.ProcessorCount * 8);
        ThreadPool.SetMinThreads(Math.Max(workers, wanted), Math.Max(io, wanted));
    }
}
