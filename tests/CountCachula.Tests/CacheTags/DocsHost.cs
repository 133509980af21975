using CountCachula.Tests.Infrastructure;
using CountCachula.WebFrontend.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Hosting;
using CountCachula.AspNetCore.Hosting;

namespace CountCachula.Tests.CacheTags;

/// <summary>A host set up exactly as <c>docs/client-integration.md</c> shows: one silo, the hub, output caching with eviction.</summary>
public static class DocsHost
{
    public static WebApplication Build()
    {
        var builder = WebApplication.CreateBuilder(["--urls", "http://127.0.0.1:0", "--environment", "Development"]);
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(FreePorts.Next(), FreePorts.Next(), serviceId: "docs", clusterId: "docs-" + Guid.NewGuid().ToString("N")[..8]);
            silo.AddCountCachula();
        });

        // docs: services
        builder.Services.AddCountCachula(options => options.EvictOutputCache = true);
        builder.Services.AddCountCachulaAuthentication();
        builder.Services.AddOutputCache();

        var app = builder.Build();

        // docs: pipeline
        app.UseCors();
        app.UseOutputCache();
        app.MapCacheEvents().RequireCors(CountCachulaCors.PolicyName);

        DocsApi.Map(app);
        return app;
    }
}
