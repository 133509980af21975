using System.ComponentModel;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Aspire.Hosting.Orleans;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CountCachula.AppHost;

/// <summary>
/// Redis for the cluster: Aspire's Redis container where a container engine answers, else a local
/// <c>redis-server</c> executable (a machine or CI without one). <c>CountCachula:AppHost:Redis</c> chooses:
/// <c>Container</c>, <c>Executable</c> or <c>Auto</c> (the default: <c>docker info</c>, or the
/// <c>ASPIRE_CONTAINER_RUNTIME</c> engine's <c>info</c>, succeeding within 10 s means a container).
/// </summary>
internal static class RedisResources
{
    public static IResourceBuilder<IResourceWithConnectionString> Add(IDistributedApplicationBuilder builder, string name)
    {
        var choice = builder.Configuration["CountCachula:AppHost:Redis"] ?? "Auto";
        var container = choice.ToLowerInvariant() switch
        {
            "container" => true,
            "executable" => false,
            "auto" => ContainerEngineAnswers(builder.Configuration["ASPIRE_CONTAINER_RUNTIME"] ?? "docker"),
            _ => throw new InvalidOperationException($"CountCachula:AppHost:Redis is '{choice}'; use Container, Executable or Auto."),
        };
        return container ? builder.AddRedis(name) : AddExecutable(builder, name);
    }

    /// <summary>
    /// <c>redis-server</c> from the PATH on a port Aspire allocates, on loopback, without persistence or password, and
    /// healthy once it answers PING (so the silos that wait for it find it listening).
    /// </summary>
    private static IResourceBuilder<IResourceWithConnectionString> AddExecutable(IDistributedApplicationBuilder builder, string name)
    {
        var resource = new RedisServerResource(name, builder.AppHostDirectory);
        var healthCheck = $"{name}-ping";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(healthCheck, _ => new RedisPingCheck(resource), null, null));
        return builder.AddResource(resource)
            .WithEndpoint(RedisServerResource.EndpointName, e =>
            {
                e.UriScheme = "tcp";
                e.IsExternal = false;
            }, createIfNotExists: true)
            .WithArgs(context =>
            {
                context.Args.Add("--port");
                context.Args.Add(resource.Endpoint.Property(EndpointProperty.TargetPort));
                foreach (var arg in new[] { "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
                {
                    context.Args.Add(arg);
                }
            })
            .WithHealthCheck(healthCheck);
    }

    private static bool ContainerEngineAnswers(string engine)
    {
        try
        {
            using var info = Process.Start(new ProcessStartInfo(engine, "info")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            info.OutputDataReceived += (_, _) => { };
            info.ErrorDataReceived += (_, _) => { };
            info.BeginOutputReadLine();
            info.BeginErrorReadLine();
            if (!info.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                info.Kill(entireProcessTree: true);
                return false;
            }

            return info.ExitCode == 0;
        }
        catch (Win32Exception)
        {
            // No such program on the PATH.
            return false;
        }
    }
}

/// <summary>A <c>redis-server</c> process whose connection string is its endpoint's <c>host:port</c>.</summary>
internal sealed class RedisServerResource(string name, string workingDirectory)
    : ExecutableResource(name, "redis-server", workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    public EndpointReference Endpoint => new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{Endpoint.Property(EndpointProperty.HostAndPort)}");
}

/// <summary>Healthy when the server answers <c>PING</c> with <c>+PONG</c>.</summary>
internal sealed class RedisPingCheck(RedisServerResource redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var address = await redis.ConnectionStringExpression.GetValueAsync(cancellationToken) ?? "";
            var colon = address.LastIndexOf(':');
            var (host, port) = (address[..colon], int.Parse(address[(colon + 1)..]));
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, cancellationToken);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), cancellationToken);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, cancellationToken);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal)
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy("redis-server did not answer PING with PONG");
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            return HealthCheckResult.Unhealthy("redis-server is not listening yet", e);
        }
    }
}

/// <summary>
/// Orleans' Redis clustering on <paramref name="redis"/>, container or executable alike: what Aspire's
/// <c>WithClustering(redis)</c> writes for its own Redis resource (the provider type comes from the resource's type
/// name there, which would be <c>RedisServer</c> for the executable).
/// </summary>
internal sealed class RedisClustering(IResourceBuilder<IResourceWithConnectionString> redis) : IProviderConfiguration
{
    public void ConfigureResource<T>(IResourceBuilder<T> resourceBuilder, string configSectionPath) where T : IResourceWithEnvironment
    {
        var prefix = configSectionPath.Replace(":", "__", StringComparison.Ordinal);
        resourceBuilder.WithEnvironment($"Orleans__{prefix}__ProviderType", "Redis");
        resourceBuilder.WithEnvironment($"Orleans__{prefix}__ServiceKey", redis.Resource.Name);
        resourceBuilder.WithReference(redis);
    }
}
