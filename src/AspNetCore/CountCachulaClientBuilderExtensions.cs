using CountCachula;
using CountCachula.Queues;

// Extension methods live in the namespace of the type they extend, as Orleans' own do.
namespace Orleans.Hosting;

/// <summary>Lets an Orleans client read the hub's streams: a web tier in front of a separate hub cluster.</summary>
public static class CountCachulaClientBuilderExtensions
{
    /// <summary>
    /// Adds the stream provider the hub's grains publish on (<see cref="CacheTopics.StreamProvider"/>), so
    /// <c>MapCacheEvents</c> in this client process can subscribe to it. The silos of the cluster add it with
    /// <c>ISiloBuilder.AddCountCachula()</c>. A publisher-only client (one that only calls
    /// <see cref="ICacheHubGrain"/>) does not need it.
    /// </summary>
    /// <param name="builder">The client builder of <c>UseOrleansClient</c>.</param>
    /// <returns>The same builder.</returns>
    public static IClientBuilder AddCountCachula(this IClientBuilder builder)
    {
        // Safe to call twice: the provider is added once.
        if (!builder.Services.Any(s => s.IsKeyedService && Equals(s.ServiceKey, CacheTopics.StreamProvider)))
        {
            builder.AddPersistentStreams(CacheTopics.StreamProvider, CacheQueueAdapterFactory.Create, _ => { });
        }

        return builder;
    }
}
