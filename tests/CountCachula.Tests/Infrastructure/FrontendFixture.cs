using CountCachula.WebFrontend;
using Microsoft.AspNetCore.Builder;
using CountCachula.WebFrontend.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// The real application — Kestrel on 127.0.0.1 with an embedded silo — started once for a test class or collection.
/// The heartbeat is short so tests can observe it.
/// </summary>
public class FrontendFixture : IAsyncLifetime
{
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromMilliseconds(400);

    private WebApplication? _app;

    public WebApplication App => _app ?? throw new InvalidOperationException("The frontend has not started.");

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public ConnectionRegistry Registry => App.Services.GetRequiredService<ConnectionRegistry>();

    public T Get<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <summary>Extra configuration for a derived fixture, as command-line style key/value pairs.</summary>
    protected virtual IEnumerable<KeyValuePair<string, string>> Settings => [];

    public async Task InitializeAsync()
    {
        var args = new List<string>
        {
            "--urls", "http://127.0.0.1:0",
            "--environment", "Development",
            "--Orleans:SiloPort", FreePorts.Next().ToString(),
            "--Orleans:GatewayPort", FreePorts.Next().ToString(),
            "--Orleans:ClusterId", "test-" + Guid.NewGuid().ToString("N")[..8],
            "--CountCachula:HeartbeatInterval", HeartbeatInterval.ToString(),
        };
        foreach (var (key, value) in Settings)
        {
            args.Add("--" + key);
            args.Add(value);
        }

        _app = FrontendHost.Build([.. args], builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
        });
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        BaseAddress = new Uri(address);
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
