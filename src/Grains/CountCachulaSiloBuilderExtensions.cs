using CountCachula;
using CountCachula.Grains;
using Orleans.Configuration;

// Extension methods live in the namespace of the type they extend, as Orleans' own do.
namespace Orleans.Hosting;

/// <summary>Adds Count Cachula's grains and streams to a silo.</summary>
public static class CountCachulaSiloBuilderExtensions
{
    /// <summary>
    /// Registers the memory stream provider that carries cache events (and the grain storage its pub-sub needs,
    /// unless the host configured one). Safe to call once per silo builder.
    /// </summary>
    public static ISiloBuilder AddCountCachula(this ISiloBuilder builder, Action<CountCachulaSiloOptions>? configure = null)
    {
        var options = new CountCachulaSiloOptions();
        configure?.Invoke(options);
        if (options.StreamPollInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(configure), $"{nameof(CountCachulaSiloOptions.StreamPollInterval)} must be positive.");
        }

        if (options.StreamQueueCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(configure), $"{nameof(CountCachulaSiloOptions.StreamQueueCount)} must be at least 1.");
        }

        builder.AddMemoryStreams(CacheTopics.StreamProvider, streams =>
        {
            streams.ConfigurePartitioning(options.StreamQueueCount);
            streams.ConfigurePullingAgent(agent => agent.Configure(o => o.GetQueueMsgsTimerPeriod = options.StreamPollInterval));
        });

        if (!builder.Services.Any(s => s.IsKeyedService && Equals(s.ServiceKey, "PubSubStore")))
        {
            builder.AddMemoryGrainStorage("PubSubStore");
        }

        return builder;
    }
}
