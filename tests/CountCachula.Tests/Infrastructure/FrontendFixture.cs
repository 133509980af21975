using CountCachula.AspNetCore.Delivery;
using Microsoft.AspNetCore.Builder;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// The real application — Kestrel on 127.0.0.1 with an embedded silo — started once for a test class or collection.
/// The heartbeat is short so tests can observe it.
/// </summary>
public class FrontendFixture : IAsyncLifetime
{
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromMilliseconds(400);

    private TestFrontend? _frontend;

    public TestFrontend Frontend => _frontend ?? throw new InvalidOperationException("The frontend has not started.");

    public WebApplication App => Frontend.App;

    public Uri BaseAddress => Frontend.BaseAddress;

    public HttpClient Http => Frontend.Http;

    internal ConnectionRegistry Registry => Frontend.Registry;

    public T Get<T>() where T : notnull => Frontend.Get<T>();

    /// <summary>Extra configuration for a derived fixture.</summary>
    protected virtual IEnumerable<KeyValuePair<string, string>> Settings => [];

    /// <summary>Last changes to the builder for a derived fixture (services a test needs in the process).</summary>
    protected virtual void Configure(WebApplicationBuilder builder)
    {
    }

    public async Task InitializeAsync() =>
        _frontend = await TestFrontend.StartAsync("test-" + Guid.NewGuid().ToString("N")[..8], settings:
        [
            new("CountCachula:HeartbeatInterval", HeartbeatInterval.ToString()),
            .. Settings,
        ], configure: Configure);

    public async Task DisposeAsync()
    {
        if (_frontend is not null)
        {
            await _frontend.DisposeAsync();
        }
    }
}
