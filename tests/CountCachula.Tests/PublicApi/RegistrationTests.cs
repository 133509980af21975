using CountCachula.AspNetCore;
using CountCachula.AspNetCore.Dashboard;
using CountCachula.AspNetCore.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CountCachula.Tests.PublicApi;

/// <summary>
/// Each registration call adds only what its name says, so the hub composes with an application's own set-up: its
/// authentication, its authorization result handler, its pipeline and its health checks stay the application's.
/// </summary>
public sealed class RegistrationTests
{
    [Fact]
    public void AddCountCachula_adds_no_authentication_dashboard_startup_filter_or_app_wide_handler()
    {
        var services = Services();
        services.AddCountCachula();

        Assert.DoesNotContain(services, d => d.ServiceType == typeof(IStartupFilter));
        Assert.DoesNotContain(services, d => d.ServiceType == typeof(IAuthorizationMiddlewareResultHandler));
        Assert.DoesNotContain(services, d => d.ServiceType == typeof(IAuthenticationService));
        Assert.DoesNotContain(services, d => d.ServiceType == typeof(DashboardReporter));
        Assert.DoesNotContain(services, d => d.ServiceType == typeof(Microsoft.AspNetCore.Http.IProblemDetailsService));
        Assert.DoesNotContain(services, d => d.ServiceType == typeof(Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService));
    }

    [Fact]
    public void The_dashboard_reporter_runs_only_when_added()
    {
        var services = Services();
        services.AddCountCachula();
        var hosted = services.Count(d => d.ServiceType == typeof(IHostedService));
        services.AddCountCachulaDashboard();
        services.AddCountCachulaDashboard();

        Assert.Single(services, d => d.ServiceType == typeof(DashboardReporter));
        Assert.Equal(hosted + 1, services.Count(d => d.ServiceType == typeof(IHostedService)));
    }

    [Fact]
    public async Task The_hub_wraps_the_applications_result_handler_and_leaves_other_policies_to_it()
    {
        var services = Services();
        var own = new RecordingHandler();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler>(own);
        services.AddCountCachula();
        services.AddCountCachulaAuthentication();
        services.AddCountCachulaAuthentication();

        Assert.Single(services, d => d.ServiceType == typeof(IAuthorizationMiddlewareResultHandler));
        using var provider = services.BuildServiceProvider();
        var handler = provider.GetRequiredService<IAuthorizationMiddlewareResultHandler>();
        var context = new DefaultHttpContext { RequestServices = provider };
        var policy = new AuthorizationPolicyBuilder().RequireAssertion(_ => false).Build();
        await handler.HandleAsync(_ => Task.CompletedTask, context, policy, PolicyAuthorizationResult.Forbid());

        Assert.Equal(1, own.Calls);
    }

    [Fact]
    public void Without_an_application_handler_the_default_one_gets_every_other_result()
    {
        var services = Services();
        services.AddCountCachula();
        services.AddCountCachulaAuthentication();
        services.AddAuthorization();

        using var provider = services.BuildServiceProvider();
        var handler = Assert.IsType<CountCachula.AspNetCore.Security.CountCachulaAuthorizationResultHandler>(provider.GetRequiredService<IAuthorizationMiddlewareResultHandler>());
        Assert.IsType<AuthorizationMiddlewareResultHandler>(handler.Inner);
    }

    [Fact]
    public void The_hub_sets_no_default_authentication_scheme()
    {
        var services = Services();
        services.AddCountCachula();
        services.AddCountCachulaAuthentication();

        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<AuthenticationOptions>>().Value;
        Assert.Null(options.DefaultScheme);
        Assert.Null(options.DefaultAuthenticateScheme);
        Assert.Null(options.DefaultChallengeScheme);
    }

    [Fact]
    public void Mapping_the_hub_without_its_policies_fails_naming_the_call()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddCountCachula();
        var app = builder.Build();

        var exception = Assert.Throws<InvalidOperationException>(() => app.MapCacheEvents());
        Assert.Contains("AddCountCachulaAuthentication()", exception.Message);
        exception = Assert.Throws<InvalidOperationException>(() => app.MapCachePublishing());
        Assert.Contains("AddCountCachulaAuthentication()", exception.Message);
    }

    [Fact]
    public void The_millisecond_keys_of_earlier_versions_still_set_the_durations()
    {
        var services = Services(new()
        {
            ["CountCachula:RetryMilliseconds"] = "1500",
            ["CountCachula:RetryJitterMilliseconds"] = "250",
            ["CountCachula:UnavailableRetryMilliseconds"] = "900",
        });
        services.AddCountCachula();

        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<CountCachulaOptions>>().Value;
        Assert.Equal(TimeSpan.FromMilliseconds(1500), options.Retry);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.RetryJitter);
        Assert.Equal(TimeSpan.FromMilliseconds(900), options.UnavailableRetry);
    }

    [Fact]
    public void A_new_key_wins_over_its_millisecond_key()
    {
        var services = Services(new()
        {
            ["CountCachula:Retry"] = "00:00:02",
            ["CountCachula:RetryMilliseconds"] = "1500",
        });
        services.AddCountCachula();

        using var provider = services.BuildServiceProvider();
        Assert.Equal(TimeSpan.FromSeconds(2), provider.GetRequiredService<IOptions<CountCachulaOptions>>().Value.Retry);
    }

    private static ServiceCollection Services(Dictionary<string, string?>? settings = null)
    {
        var services = new ServiceCollection();
        settings ??= [];
        settings.TryAdd("CountCachula:Auth:Enabled", "false");
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddLogging();
        return services;
    }

    private sealed class RecordingHandler : IAuthorizationMiddlewareResultHandler
    {
        public int Calls { get; private set; }

        public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
        {
            Calls++;
            return Task.CompletedTask;
        }
    }
}
