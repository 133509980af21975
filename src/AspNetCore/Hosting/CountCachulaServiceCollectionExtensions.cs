using CountCachula;
using CountCachula.WebFrontend.Connections;
using CountCachula.WebFrontend.Dashboard;
using CountCachula.WebFrontend.Hosting;
using CountCachula.WebFrontend.Publishing;
using CountCachula.WebFrontend.Streaming;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

// Beside IServiceCollection, as ASP.NET Core's own AddXxx methods are.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Count Cachula web frontend.</summary>
public static class CountCachulaServiceCollectionExtensions
{
    /// <summary>
    /// Adds the connection registry, the silo's stream subscriber, the heartbeat and <see cref="ICacheHub"/>, with
    /// <see cref="CountCachulaOptions"/> bound from the <c>CountCachula</c> section and validated at start-up.
    /// Calling it twice registers everything once.
    /// </summary>
    public static IServiceCollection AddCountCachula(this IServiceCollection services, Action<CountCachulaOptions>? configure = null)
    {
        if (services.Any(s => s.ServiceType == typeof(CountCachulaMarker)))
        {
            // Already added: a second call only adds its option changes.
            if (configure is not null)
            {
                services.Configure(configure);
            }

            return services;
        }

        services.AddSingleton<CountCachulaMarker>();
        services.AddOptions<CountCachulaOptions>()
            .BindConfiguration(CountCachulaOptions.SectionName)
            .ValidateOnStart();

        // After the binding, so code has the last word over configuration, as in ASP.NET Core itself.
        if (configure is not null)
        {
            services.Configure(configure);
        }
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CountCachulaOptions>, CountCachulaOptionsValidator>());

        // Auth defaults to on except in Development; the environment is only known to the host, so it is applied here.
        services.AddOptions<CountCachulaOptions>().PostConfigure<IServiceProvider>((options, provider) =>
            options.Auth.Enabled ??= provider.GetService<IHostEnvironment>()?.IsDevelopment() != true);
        services.AddAuthentication().AddJwtBearer(CountCachulaAccess.Scheme, _ => { });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<Microsoft.AspNetCore.Authentication.JwtBearer.JwtBearerOptions>, CountCachulaJwtSetup>());
        services.TryAddSingleton<ConnectionLimits>();
        services.AddProblemDetails();
        services.AddCors();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>, CountCachulaCors>());
        services.AddMetrics();
        services.TryAddSingleton<CountCachulaMetrics>();
        services.TryAddSingleton<ConnectionRegistry>();
        services.TryAddSingleton<CacheEventDispatcher>();
        services.TryAddSingleton(ListenerIdentity.From);
        services.TryAddSingleton<TopicSubscriptions>();
        services.TryAddSingleton<ICacheHub>(sp => new CacheHub(
            sp.GetRequiredService<IGrainFactory>(),
            sp.GetRequiredService<IOptions<CountCachulaOptions>>().Value.DefaultTenant));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, HeartbeatService>());
        services.TryAddSingleton<RecentActivity>();
        services.TryAddSingleton<DashboardReporter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DashboardReporter>(sp => sp.GetRequiredService<DashboardReporter>()));
        return services;
    }

    /// <summary>Marks a service collection that already has Count Cachula.</summary>
    private sealed class CountCachulaMarker;
}
