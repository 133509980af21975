using Microsoft.Extensions.DependencyInjection.Extensions;
using StackExchange.Redis;

namespace CountCachula.WebFrontend;

/// <summary>
/// Clustering in Orleans' own configuration schema, which is what .NET Aspire's Orleans resource writes
/// (<c>WithClustering</c>, <c>AsClient</c>): <c>Orleans:Clustering:ProviderType</c> and <c>:ServiceKey</c>, the
/// connection string under <c>ConnectionStrings:{ServiceKey}</c>, <c>Orleans:ClusterId</c>, <c>Orleans:ServiceId</c>
/// and, for a silo, <c>Orleans:Endpoints:SiloPort</c> and <c>:GatewayPort</c>.
/// </summary>
public static partial class FrontendHost
{
    /// <summary>
    /// Whether <c>Orleans:Clustering</c> names a provider. Orleans then sets up membership from that section itself
    /// (when the silo or client is built), and <c>Orleans:Membership</c> is not read.
    /// </summary>
    private static bool OrleansConfiguresClustering(IConfigurationSection orleans) =>
        !string.IsNullOrWhiteSpace(orleans["Clustering:ProviderType"]);

    /// <summary>
    /// A port Orleans listens on: <c>Orleans:Endpoints:{name}</c> (Orleans' own key, which Aspire sets), else
    /// <c>Orleans:{name}</c>, else <paramref name="fallback"/>.
    /// </summary>
    private static int OrleansPort(IConfigurationSection orleans, string name, int fallback) =>
        orleans.GetValue<int?>($"Endpoints:{name}") ?? orleans.GetValue(name, fallback);

    /// <summary>
    /// For a Redis <c>Orleans:Clustering</c>, the Redis connection string it names, so the hub's grain storage and
    /// reminders go to the same Redis as its membership; <see langword="null"/> for any other provider. Orleans' Redis
    /// provider looks a <c>ServiceKey</c> up as a keyed <see cref="IConnectionMultiplexer"/> (which Aspire's client
    /// integration would register): one is registered here from <c>ConnectionStrings:{ServiceKey}</c> unless the
    /// application registered its own.
    /// </summary>
    private static string? UseConfiguredRedis(IServiceCollection services, IConfiguration configuration, IConfigurationSection orleans)
    {
        var clustering = orleans.GetSection("Clustering");
        if (!string.Equals(clustering["ProviderType"], "Redis", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var key = clustering["ServiceKey"];
        if (string.IsNullOrWhiteSpace(key))
        {
            var connection = clustering["ConnectionString"];
            return string.IsNullOrWhiteSpace(connection) && clustering["ConnectionName"] is { Length: > 0 } name
                ? configuration.GetConnectionString(name)
                : connection;
        }

        var connectionString = configuration.GetConnectionString(key);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"Orleans:Clustering:ServiceKey is '{key}' but ConnectionStrings:{key} (a StackExchange.Redis connection string such as 'localhost:6379') is not set.");
        }

        services.TryAddKeyedSingleton<IConnectionMultiplexer>(key, (_, _) => ConnectionMultiplexer.Connect(connectionString));
        return connectionString;
    }
}
