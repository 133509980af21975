using CountCachula;
using CountCachula.Grains;
using CountCachula.Queues;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Configuration;

// Extension methods live in the namespace of the type they extend, as Orleans' own do.
namespace Orleans.Hosting;

/// <summary>Adds Count Cachula's grains and streams to a silo.</summary>
public static class CountCachulaSiloBuilderExtensions
{
    /// <summary>
    /// Registers the stream provider that carries cache events (in-memory queues read by a waiting read, see
    /// <c>docs/architecture.md</c>), plus in-memory defaults for what the host has
    /// not configured itself: the grain storage of stream pub-sub and of the hub's schedules, and the reminder service.
    /// </summary>
    public static ISiloBuilder AddCountCachula(this ISiloBuilder builder, Action<CountCachulaSiloOptions>? configure = null)
    {
        var options = new CountCachulaSiloOptions();
        configure?.Invoke(options);
        if (options.StreamPollInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(configure), $"{nameof(CountCachulaSiloOptions.StreamPollInterval)} must be positive.");
        }

        if (options.HistoryMaxEvents < 1 || options.HistorySegmentSize < 1 || options.HistoryMaxAge <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(configure), "History limits (HistoryMaxEvents, HistorySegmentSize, HistoryMaxAge) must be positive.");
        }

        if (options.HistoryMaxBytes < 64 * 1024 || options.IdempotencyWindow < TimeSpan.Zero || options.IdempotencyMaxKeys < 0
            || options.RouteTimeout <= TimeSpan.Zero || options.ClientListenerLease < TimeSpan.FromMinutes(5) || options.RerouteOnActivation < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(configure), "HistoryMaxBytes must be at least 65536, IdempotencyWindow and IdempotencyMaxKeys not negative, RouteTimeout positive, ClientListenerLease at least 5 minutes, RerouteOnActivation not negative.");
        }

        if (options.StreamQueueCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(configure), $"{nameof(CountCachulaSiloOptions.StreamQueueCount)} must be at least 1.");
        }

        builder.Services.AddOptions<CountCachulaSiloOptions>().Configure(o =>
        {
            o.StreamPollInterval = options.StreamPollInterval;
            o.StreamQueueCount = options.StreamQueueCount;
            o.DebouncedTenants = new HashSet<string>(options.DebouncedTenants, StringComparer.Ordinal);
            o.DefaultDebounceWindow = options.DefaultDebounceWindow;
            o.HistoryMaxEvents = options.HistoryMaxEvents;
            o.HistoryMaxAge = options.HistoryMaxAge;
            o.HistorySegmentSize = options.HistorySegmentSize;
            o.HistoryMaxBytes = options.HistoryMaxBytes;
            o.IdempotencyWindow = options.IdempotencyWindow;
            o.IdempotencyMaxKeys = options.IdempotencyMaxKeys;
            o.RouteTimeout = options.RouteTimeout;
            o.ClientListenerLease = options.ClientListenerLease;
            o.RerouteOnActivation = options.RerouteOnActivation;
            o.DebounceWindows = new Dictionary<string, TimeSpan>(options.DebounceWindows, StringComparer.Ordinal);
        });
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton<HubMetrics>();
        builder.AddPersistentStreams(CacheTopics.StreamProvider, CacheQueueAdapterFactory.Create, streams =>
        {
            streams.Configure<HashRingStreamQueueMapperOptions>(o => o.Configure(q => q.TotalQueueCount = options.StreamQueueCount));
            streams.ConfigurePullingAgent(agent => agent.Configure(o => o.GetQueueMsgsTimerPeriod = options.StreamPollInterval));
        });

        if (!HasStorage(builder.Services, "PubSubStore"))
        {
            AddMemoryStorage(builder, "PubSubStore");
        }

        if (!HasStorage(builder.Services, CacheTopics.Storage))
        {
            AddMemoryStorage(builder, CacheTopics.Storage);
        }

        if (!builder.Services.Any(s => s.ServiceType.FullName == "Orleans.IReminderTable"))
        {
            builder.UseInMemoryReminderService();
        }

        return builder;
    }

    /// <summary>
    /// In-memory storage whose states are copied with Orleans' own binary serializer. The default, JSON with type names,
    /// buys nothing for bytes that never leave the process, and the history is written on every event: it was a tenth
    /// of the hub's CPU at 100 events/s.
    /// </summary>
    private static void AddMemoryStorage(ISiloBuilder builder, string name) =>
        builder.AddMemoryGrainStorage(name, (Microsoft.Extensions.Options.OptionsBuilder<MemoryGrainStorageOptions> storage) =>
            storage.Configure<Orleans.Serialization.Serializer>((options, serializer) => options.GrainStorageSerializer = new Orleans.Storage.OrleansGrainStorageSerializer(serializer)));

    private static bool HasStorage(IServiceCollection services, string name) =>
        services.Any(s => s.IsKeyedService && Equals(s.ServiceKey, name) && s.ServiceType == typeof(Orleans.Storage.IGrainStorage));
}
