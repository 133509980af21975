using CountCachula.Tests.Infrastructure;
using CountCachula.WebFrontend;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CountCachula.Tests.CacheTags;

/// <summary>
/// The real frontend (Kestrel on 127.0.0.1 and its silo, built by <see cref="FrontendHost"/>) with <see cref="DocsApi"/>
/// mapped beside the hub, as an application that hosts Count Cachula maps its own endpoints.
/// </summary>
public sealed class TaggedApp : IAsyncDisposable
{
    private TaggedApp(WebApplication app)
    {
        App = app;
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        Http = new HttpClient { BaseAddress = new Uri(address), Timeout = Timeout.InfiniteTimeSpan };
    }

    public WebApplication App { get; }

    public HttpClient Http { get; }

    public int SiloPort { get; private init; }

    public T Get<T>() where T : notnull => App.Services.GetRequiredService<T>();

    public static async Task<TaggedApp> StartAsync(
        string clusterId, int? primarySiloPort, IEnumerable<KeyValuePair<string, string>> settings,
        Action<WebApplicationBuilder>? configure = null, Action<WebApplication>? map = null)
    {
        var siloPort = FreePorts.Next();
        var args = new List<string>
        {
            "--urls", "http://127.0.0.1:0",
            "--environment", "Development",
            "--Orleans:SiloPort", siloPort.ToString(),
            "--Orleans:GatewayPort", FreePorts.Next().ToString(),
            "--Orleans:ClusterId", clusterId,
            "--Orleans:Dashboard", "false",
        };
        if (primarySiloPort is { } primary)
        {
            args.AddRange(["--Orleans:PrimarySiloPort", primary.ToString()]);
        }

        foreach (var (key, value) in settings)
        {
            args.AddRange(["--" + key, value]);
        }

        var app = FrontendHost.Build([.. args], builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
            configure?.Invoke(builder);
        });
        DocsApi.Map(app);
        map?.Invoke(app);
        await app.StartAsync();
        return new TaggedApp(app) { SiloPort = siloPort };
    }

    /// <summary>GETs <paramref name="path"/> until the answer comes from the output cache (it carries <c>Age</c>).</summary>
    public async Task<string> GetUntilCachedAsync(string path)
    {
        using var cts = new CancellationTokenSource(Timeouts.Default);
        try
        {
            while (true)
            {
                // The entry is stored just after the body is sent, so the very next request may still miss it.
                using var response = await Http.GetAsync(path, cts.Token);
                response.EnsureSuccessStatusCode();
                if (response.Headers.Age is not null)
                {
                    return await response.Content.ReadAsStringAsync(cts.Token);
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"GET {path} on {Http.BaseAddress}: no answer from the output cache within {Timeouts.Default}.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
