using CountCachula;
using CountCachula.AspNetCore;
using CountCachula.AspNetCore.CacheTags;
using CountCachula.AspNetCore.Dashboard;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Diagnostics;
using CountCachula.AspNetCore.Endpoints;
using CountCachula.AspNetCore.Hosting;
using CountCachula.AspNetCore.Publishing;
using CountCachula.AspNetCore.Security;
using CountCachula.AspNetCore.Streaming;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

// Beside IServiceCollection, as ASP.NET Core's own AddXxx methods are.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the services of the Count Cachula hub in an ASP.NET Core application.</summary>
/// <remarks>
/// Each method adds only what its name says, so an application composes the hub with its own set-up:
/// <see cref="AddCountCachula"/> (the hub), <see cref="AddCountCachulaAuthentication"/> (the hub's credential schemes and
/// policies, beside the application's own) and <see cref="AddCountCachulaDashboard"/> (reporting to the cluster's
/// dashboard). Nothing is added to the request pipeline: the endpoints carry what they need.
/// </remarks>
public static class CountCachulaServiceCollectionExtensions
{
    /// <summary>
    /// Adds the hub's own services: the connection registry, the stream subscriber, the heartbeat, output-cache
    /// eviction and <see cref="ICacheHub"/>, with <see cref="CountCachulaOptions"/> bound from the <c>CountCachula</c>
    /// section and validated at start-up. Calling it twice registers everything once.
    /// </summary>
    /// <remarks>
    /// The endpoints it serves (<c>MapCacheEvents</c>, <c>MapCachePublishing</c>) need
    /// <see cref="AddCountCachulaAuthentication"/> as well: mapping them without it fails at start-up rather than serving
    /// them unprotected. Readiness joins the application's health checks with
    /// <see cref="CountCachulaHealthChecksBuilderExtensions.AddCountCachula"/>.
    /// </remarks>
    /// <param name="services">The application's services.</param>
    /// <param name="configure">Changes to the options after configuration is bound.</param>
    /// <returns>The same services.</returns>
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
            .Configure<IConfiguration>(CountCachulaOptions.BindMillisecondKeys)
            .ValidateOnStart();

        // After the binding, so code has the last word over configuration, as in ASP.NET Core itself.
        if (configure is not null)
        {
            services.Configure(configure);
        }
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CountCachulaOptions>, CountCachulaOptionsValidator>());

        // Auth defaults to on except in Development; the environment is only known to the host, so it is applied here.
        // So is the operator views' default: closed outside Development unless configured.
        services.AddOptions<CountCachulaOptions>().PostConfigure<IServiceProvider>((options, provider) =>
        {
            var development = provider.GetService<IHostEnvironment>()?.IsDevelopment() == true;
            options.Auth.Enabled ??= !development;
            options.Metrics.RequireAuthorization ??= !development;
        });
        services.TryAddSingleton<ConnectionLimits>();

        // CORS services and the hub's named policy (CountCachulaCors.PolicyName); no default policy, so nothing changes
        // for the application's own endpoints.
        services.AddCors();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>, CountCachulaCors>());
        services.AddMetrics();
        services.TryAddSingleton<CountCachulaMetrics>();
        services.TryAddSingleton(_ => new WriterShards());
        services.TryAddSingleton<ConnectionRegistry>();
        services.TryAddSingleton<CacheEventDispatcher>();

        // What the dispatcher tells of each event, in this order: the output-cache eviction first (before any browser
        // is told), then the metrics and the dashboard's counts.
        services.TryAddSingleton<OutputCacheEvictor>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ICacheEventObserver, OutputCacheEvictor>(sp => sp.GetRequiredService<OutputCacheEvictor>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ICacheEventObserver, DispatchMetrics>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ICacheEventObserver, DashboardActivityObserver>());
        services.TryAddSingleton(ListenerIdentity.From);
        services.TryAddSingleton<TopicSubscriptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CountCachulaOptions>, DeliveryOptionsValidator>());
        services.TryAddSingleton<DeliveryMonitor>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DeliveryMonitor>(sp => sp.GetRequiredService<DeliveryMonitor>()));
        services.TryAddSingleton<ICacheHub>(sp => new CacheHub(
            sp.GetRequiredService<IGrainFactory>(),
            sp.GetRequiredService<IOptions<CountCachulaOptions>>().Value.DefaultTenant,
            sp.GetRequiredService<IOptions<CountCachulaOptions>>().Value.MaxCustomEventBytes));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, HeartbeatService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, BigEventRelief>());
        services.TryAddSingleton<StreamDrain>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, StreamDrain>(sp => sp.GetRequiredService<StreamDrain>()));
        services.TryAddSingleton<RecentActivity>();

        // Cache tags and output-cache eviction.
        services.AddRouting();
        services.TryAddSingleton(sp => new OutputCacheEviction(
            sp.GetRequiredService<OutputCacheEvictor>(),
            sp.GetRequiredService<TopicSubscriptions>(),
            sp.GetRequiredService<ILogger<OutputCacheEviction>>()));
        services.AddHttpContextAccessor();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOutgoingGrainCallFilter, CacheEventIdHeader>());
        return services;
    }

    /// <summary>
    /// Adds the hub's credential schemes (<see cref="CountCachulaAccess.Scheme"/> for tokens,
    /// <see cref="CountCachulaAccess.ApiKeyScheme"/> for publishers' API keys, <see cref="CountCachulaAccess.PublisherScheme"/>
    /// choosing between them by the <c>X-Api-Key</c> header), the policies of <see cref="CountCachulaPolicies"/>, and
    /// the log filter that keeps tokens out of logs. Calling it twice registers everything once.
    /// </summary>
    /// <remarks>
    /// It composes with the application's own authentication: it sets no default scheme, and the hub's policies name
    /// the schemes they use. A refusal by one of the hub's policies is answered with a ProblemDetails that says what
    /// was wrong; every other authorization result goes to the application's
    /// <see cref="Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler"/> (one registered before this
    /// call) or to ASP.NET Core's default one. Whether credentials are required is
    /// <see cref="CountCachulaOptions.Auth"/>: on everywhere except in Development unless configured. The options are
    /// bound by <see cref="AddCountCachula"/>; without it credentials are required and none is accepted.
    /// </remarks>
    /// <param name="services">The application's services.</param>
    /// <returns>The same services.</returns>
    public static IServiceCollection AddCountCachulaAuthentication(this IServiceCollection services)
    {
        if (services.Any(s => s.ServiceType == typeof(CountCachulaAuthenticationMarker)))
        {
            return services;
        }

        services.AddSingleton<CountCachulaAuthenticationMarker>();
        // Tokens: CountCachula hands each to the JwtBearer scheme that checks it, the signing key's or a provider's
        // (one per configured OpenID Connect provider, added once the options are bound).
        services.AddAuthentication()
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, TokenSchemeHandler>(CountCachulaAccess.Scheme, _ => { })
            .AddJwtBearer(TokenAuthorities.SigningKeyScheme, _ => { })
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(CountCachulaAccess.ApiKeyScheme, _ => { })
            .AddPolicyScheme(CountCachulaAccess.PublisherScheme, displayName: null, scheme => scheme.ForwardDefaultSelector = context =>
                context.Request.Headers.ContainsKey(ApiKeyAuthenticationHandler.Header) ? CountCachulaAccess.ApiKeyScheme : CountCachulaAccess.Scheme);
        services.TryAddSingleton<TokenAuthorities>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<Microsoft.AspNetCore.Authentication.AuthenticationOptions>, AuthoritySchemes>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<Microsoft.AspNetCore.Authentication.JwtBearer.JwtBearerOptions>, CountCachulaJwtSetup>());
        services.AddAuthorizationBuilder()
            .AddPolicy(CountCachulaPolicies.Subscriber, policy => policy.AddRequirements(new CountCachulaRequirement(CallerRole.Subscriber)))
            .AddPolicy(CountCachulaPolicies.Publisher, policy => policy.AddRequirements(new CountCachulaRequirement(CallerRole.Publisher)))
            .AddPolicy(CountCachulaPolicies.Operator, policy => policy.AddRequirements(new CountCachulaRequirement(CallerRole.Operator)))
            .AddPolicy(CountCachulaPolicies.TagScope, policy => policy.AddRequirements(new TagScopeRequirement()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Authorization.IAuthorizationHandler, CountCachulaAuthorizationHandler>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Authorization.IAuthorizationHandler, TagScopeAuthorizationHandler>());

        // Wraps the handler the application has (its own, or ASP.NET Core's default): the hub's refusals get their
        // ProblemDetails, every other result goes to that handler unchanged.
        CountCachulaAuthorizationResultHandler.Wrap(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<Microsoft.Extensions.Logging.LoggerFilterOptions>, TokenRedaction>());
        return services;
    }

    /// <summary>
    /// Makes this process report its figures (connections, events, deliveries, latencies) each second to the cluster's
    /// dashboard grain, and keeps the cluster's figures of the last minutes for a dashboard page served here. Off
    /// unless called: an application without a dashboard pays nothing for it.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <returns>The same services.</returns>
    public static IServiceCollection AddCountCachulaDashboard(this IServiceCollection services)
    {
        services.TryAddSingleton<DashboardReporter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DashboardReporter>(sp => sp.GetRequiredService<DashboardReporter>()));
        services.TryAddSingleton(sp => sp.GetRequiredService<DashboardReporter>().History);
        return services;
    }
}
