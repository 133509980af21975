using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Providers.Streams.Common;
using Orleans.Streams;

namespace CountCachula.Runtime.Queues;

/// <summary>
/// The queue adapter of the hub's stream provider: the streams are Orleans persistent streams whose queues are
/// <see cref="ICacheQueueGrain"/>s (in memory, like Orleans' memory streams), read with a long poll that wakes on
/// append. Cache events are small and consumed at once, so the agent's cache is Orleans' simple queue cache.
/// </summary>
internal sealed class CacheQueueAdapterFactory : IQueueAdapterFactory, IQueueAdapter
{
    private readonly IGrainFactory _grains;
    private readonly ILoggerFactory _loggers;
    private readonly CacheQueueOptions _options;
    private readonly HashRingBasedStreamQueueMapper _mapper;
    private readonly SimpleQueueAdapterCache _cache;
    private readonly ConcurrentDictionary<QueueId, ICacheQueueGrain> _queues = new();
    private readonly IStreamFailureHandler _failures = new NoOpStreamDeliveryFailureHandler();

    private CacheQueueAdapterFactory(string name, IServiceProvider services)
    {
        Name = name;
        _grains = services.GetRequiredService<IGrainFactory>();
        _loggers = services.GetRequiredService<ILoggerFactory>();
        _options = services.GetOptionsByName<CacheQueueOptions>(name);
        _mapper = new HashRingBasedStreamQueueMapper(services.GetOptionsByName<HashRingStreamQueueMapperOptions>(name), name);
        _cache = new SimpleQueueAdapterCache(services.GetOptionsByName<SimpleQueueCacheOptions>(name), name, _loggers);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public bool IsRewindable => false;

    /// <inheritdoc />
    public StreamProviderDirection Direction => StreamProviderDirection.ReadWrite;

    /// <summary>Creates the adapter of the stream provider <paramref name="name"/> (the signature Orleans expects).</summary>
    public static IQueueAdapterFactory Create(IServiceProvider services, string name) => new CacheQueueAdapterFactory(name, services);

    /// <inheritdoc />
    public Task<IQueueAdapter> CreateAdapter() => Task.FromResult<IQueueAdapter>(this);

    /// <inheritdoc />
    public IQueueAdapterCache GetQueueAdapterCache() => _cache;

    /// <inheritdoc />
    public IStreamQueueMapper GetStreamQueueMapper() => _mapper;

    /// <inheritdoc />
    public Task<IStreamFailureHandler> GetDeliveryFailureHandler(QueueId queueId) => Task.FromResult(_failures);

    /// <inheritdoc />
    public IQueueAdapterReceiver CreateReceiver(QueueId queueId) =>
        new CacheQueueReceiver(QueueOf(queueId), _options, _loggers.CreateLogger<CacheQueueReceiver>());

    /// <inheritdoc />
    public Task QueueMessageBatchAsync<T>(StreamId streamId, IEnumerable<T> events, StreamSequenceToken? token, Dictionary<string, object>? requestContext)
    {
        if (token is not null)
        {
            throw new ArgumentException("The hub's streams do not accept sequence tokens from producers.", nameof(token));
        }

        var batch = new CacheQueueMessage(streamId, [.. events.Cast<object>()], requestContext, sequence: 0);
        return QueueOf(_mapper.GetQueueForStream(streamId)).Enqueue(batch);
    }

    private ICacheQueueGrain QueueOf(QueueId queueId) =>
        _queues.GetOrAdd(queueId, static (id, self) => self._grains.GetGrain<ICacheQueueGrain>(
            string.Concat(self.Name, "/", id.GetNumericId().ToString(System.Globalization.CultureInfo.InvariantCulture))), this);
}
