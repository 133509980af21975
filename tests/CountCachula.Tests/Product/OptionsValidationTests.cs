using CountCachula.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CountCachula.Tests.Product;

/// <summary>Bad settings stop the app at start-up with a message that names the configuration key.</summary>
public sealed class OptionsValidationTests
{
    [Theory]
    [InlineData("CountCachula:HeartbeatInterval", "00:00:00.001")]
    [InlineData("CountCachula:HeartbeatInterval", "02:00:00")]
    [InlineData("CountCachula:Retry", "-00:00:01")]
    [InlineData("CountCachula:RetryJitter", "00:11:00")]
    [InlineData("CountCachula:ConnectionQueueCapacity", "1")]
    [InlineData("CountCachula:DefaultTenant", "not/a/tenant")]
    [InlineData("CountCachula:UnsubscribeGrace", "01:00:00")]
    [InlineData("CountCachula:SubscribeTimeout", "00:00:00")]
    [InlineData("CountCachula:MaxListenedTagsPerTenant", "0")]
    [InlineData("CountCachula:MaxConnectionsPerIp", "-1")]
    [InlineData("CountCachula:MaxRequestBodyBytes", "10")]
    [InlineData("CountCachula:Tenants:0", "no spaces")]
    public async Task An_invalid_option_fails_start_up_naming_its_key(string key, string value)
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            TestFrontend.StartAsync("options-" + Guid.NewGuid().ToString("N")[..8], settings: [new(key, value)]));

        Assert.Contains(key, exception.Message);
    }

    [Theory]
    [InlineData("Production")]
    [InlineData("Staging")]
    public async Task Outside_development_auth_is_on_and_start_up_fails_without_a_signing_key(string environment)
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            TestFrontend.StartAsync("options-" + Guid.NewGuid().ToString("N")[..8], settings: [new("environment", environment)]));
        Assert.Contains("CountCachula:Auth:SigningKey is required", exception.Message);
    }

    [Fact]
    public async Task A_short_signing_key_or_api_key_is_refused_naming_the_setting()
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            TestFrontend.StartAsync("options-" + Guid.NewGuid().ToString("N")[..8], settings:
            [
                new("CountCachula:Auth:Enabled", "true"),
                new("CountCachula:Auth:SigningKey", "too-short"),
                new("CountCachula:Auth:ApiKeys:0:Key", "short"),
                new("CountCachula:Auth:ApiKeys:0:Tenant", "acme"),
            ]));
        Assert.Contains("CountCachula:Auth:SigningKey must be at least 32 bytes", exception.Message);
        Assert.Contains("CountCachula:Auth:ApiKeys:0:Key must be at least 16 characters", exception.Message);
    }

    [Fact]
    public async Task Redis_membership_without_a_connection_string_fails_naming_the_setting()
    {
        var exception = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            TestFrontend.StartAsync("options-" + Guid.NewGuid().ToString("N")[..8], settings: [new("Orleans:Membership", "Redis")]));

        Assert.Contains("Orleans:Redis", exception.Message);
    }
}

public sealed class AddCountCachulaTests
{
    [Fact]
    public void Adding_twice_registers_once_and_keeps_both_option_changes()
    {
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());

        services.AddCountCachula(o =>
        {
            o.HeartbeatInterval = TimeSpan.FromSeconds(5);
            o.Auth.SigningKey = "a-signing-key-of-at-least-32-bytes!";
        });
        services.AddCountCachula(o => o.Retry = TimeSpan.FromMilliseconds(1234));

        Assert.Single(services, d => d.ServiceType == typeof(CountCachula.AspNetCore.Delivery.ConnectionRegistry));
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<CountCachula.AspNetCore.CountCachulaOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(5), options.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(1234), options.Retry);
        var health = provider.GetRequiredService<IOptions<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckServiceOptions>>().Value;
        // Readiness depends on the process (a silo, or an Orleans client): the host adds that check, not the library.
        Assert.DoesNotContain(health.Registrations, r => r.Name == "silo");
    }
}
