using CountCachula.WebFrontend;
using CountCachula.AspNetCore.Delivery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// One real frontend — Kestrel on 127.0.0.1 with its embedded silo — started from <see cref="FrontendHost"/> exactly
/// as <c>dotnet run</c> starts it, with its own free ports.
/// </summary>
public sealed class TestFrontend : IAsyncDisposable
{
    private TestFrontend(WebApplication app, int siloPort)
    {
        App = app;
        SiloPort = siloPort;
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        BaseAddress = new Uri(address);
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
    }

    public WebApplication App { get; }

    public int SiloPort { get; }

    public Uri BaseAddress { get; }

    public HttpClient Http { get; }

    internal ConnectionRegistry Registry => Get<ConnectionRegistry>();

    public T Get<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <param name="clusterId">Silos with the same cluster id and primary port form one cluster.</param>
    /// <param name="primarySiloPort">The first silo's port, for the second and later silos of a cluster.</param>
    /// <param name="settings">More configuration, as key/value pairs.</param>
    /// <param name="configure">Last changes to the builder, after the test logging is set up (e.g. a log capture).</param>
    public static async Task<TestFrontend> StartAsync(string clusterId, int? primarySiloPort = null, IEnumerable<KeyValuePair<string, string>>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        var siloPort = FreePorts.Next();
        var args = new List<string>
        {
            "--urls", "http://127.0.0.1:0",
            "--environment", "Development",
            "--Orleans:SiloPort", siloPort.ToString(),
            "--Orleans:GatewayPort", FreePorts.Next().ToString(),
            "--Orleans:ClusterId", clusterId,
        };
        if (primarySiloPort is { } primary)
        {
            args.AddRange(["--Orleans:PrimarySiloPort", primary.ToString()]);
        }

        foreach (var (key, value) in settings ?? [])
        {
            args.AddRange(["--" + key, value]);
        }

        var app = FrontendHost.Build([.. args], builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
            configure?.Invoke(builder);
        });
        await app.StartAsync();
        return new TestFrontend(app, siloPort);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
