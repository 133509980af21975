using CountCachula;
using CountCachula.AspNetCore.CacheTags;
using CountCachula.AspNetCore.Connections;
using CountCachula.AspNetCore.Dashboard;
using CountCachula.AspNetCore.Hosting;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Security;
using CountCachula.AspNetCore.Streaming;
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
        // So are the operator views' and the samples' defaults: closed outside Development unless configured.
        services.AddOptions<CountCachulaOptions>().PostConfigure<IServiceProvider>((options, provider) =>
        {
            var development = provider.GetService<IHostEnvironment>()?.IsDevelopment() == true;
            options.Auth.Enabled ??= !development;
            options.Metrics.RequireAuthorization ??= !development;
            options.Samples.Enabled ??= development;
        });
        services.AddCountCachulaSecurity();
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
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CountCachulaOptions>, DeliveryOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DeliveryMonitor>());
        services.TryAddSingleton<ICacheHub>(sp => new CacheHub(
            sp.GetRequiredService<IGrainFactory>(),
            sp.GetRequiredService<IOptions<CountCachulaOptions>>().Value.DefaultTenant));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, HeartbeatService>());
        services.TryAddSingleton<RecentActivity>();
        services.TryAddSingleton<DashboardReporter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DashboardReporter>(sp => sp.GetRequiredService<DashboardReporter>()));
        services.TryAddSingleton(sp => sp.GetRequiredService<DashboardReporter>().History);

        // Cache tags and output-cache eviction; the real client's query shape is read before routing and authentication.
        services.AddRouting();
        services.TryAddSingleton<OutputCacheEviction>();
        services.TryAddEnumerable(ServiceDescriptor.Transient<IStartupFilter, ClientQueryShapeStartupFilter>());

        // Readiness of the process itself (a silo, or an Orleans client) is the host's check; delivery is the hub's.
        services.AddHealthChecks()
            .AddCheck<DeliveryHealthCheck>("delivery", tags: ["ready"]);
        return services;
    }

    /// <summary>
    /// The credential schemes (tokens; API keys for publishers, chosen by the <c>X-Api-Key</c> header), the policies of
    /// <see cref="CountCachulaPolicies"/>, the answer to their refusals, and the log filter that keeps tokens out of logs.
    /// </summary>
    private static void AddCountCachulaSecurity(this IServiceCollection services)
    {
        services.AddAuthentication()
            .AddJwtBearer(CountCachulaAccess.Scheme, _ => { })
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(CountCachulaAccess.ApiKeyScheme, _ => { })
            .AddPolicyScheme(CountCachulaAccess.PublisherScheme, displayName: null, scheme => scheme.ForwardDefaultSelector = context =>
                context.Request.Headers.ContainsKey(ApiKeyAuthenticationHandler.Header) ? CountCachulaAccess.ApiKeyScheme : CountCachulaAccess.Scheme);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<Microsoft.AspNetCore.Authentication.JwtBearer.JwtBearerOptions>, CountCachulaJwtSetup>());
        services.AddAuthorizationBuilder()
            .AddPolicy(CountCachulaPolicies.Subscriber, policy => policy.AddRequirements(new CountCachulaRequirement(CallerRole.Subscriber)))
            .AddPolicy(CountCachulaPolicies.Publisher, policy => policy.AddRequirements(new CountCachulaRequirement(CallerRole.Publisher)))
            .AddPolicy(CountCachulaPolicies.Operator, policy => policy.AddRequirements(new CountCachulaRequirement(CallerRole.Operator)))
            .AddPolicy(CountCachulaPolicies.TagScope, policy => policy.AddRequirements(new TagScopeRequirement()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Authorization.IAuthorizationHandler, CountCachulaAuthorizationHandler>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Authorization.IAuthorizationHandler, TagScopeAuthorizationHandler>());

        // Replaces ASP.NET Core's default answer (a bare challenge) but not one the application chose itself.
        var resultHandler = services.LastOrDefault(s => s.ServiceType == typeof(Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler));
        if (resultHandler is null || resultHandler.ImplementationType == typeof(Microsoft.AspNetCore.Authorization.Policy.AuthorizationMiddlewareResultHandler))
        {
            services.Replace(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, CountCachulaAuthorizationResultHandler>());
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<Microsoft.Extensions.Logging.LoggerFilterOptions>, TokenRedaction>());
    }

    /// <summary>Marks a service collection that already has Count Cachula.</summary>
    private sealed class CountCachulaMarker;
}
