namespace CountCachula;

/// <summary>
/// What a grain method marked <see cref="InvalidatesCacheTagsAttribute"/> may return so its caller learns the id of the
/// invalidation it published: the silo's call filter fills in <see cref="EventId"/> after publishing. Return
/// <see cref="Pending"/>; the caller receives it with the id. ASP.NET Core endpoints that made the call answer with the
/// id in the <c>CountCachula-Event-Id</c> header (with <c>AddCountCachula()</c> on the web server's services).
/// </summary>
/// <param name="EventId">The invalidation's sequence (its SSE id in the grain's tenant); 0 when none was published
/// (a debounced tenant only gathered it, or publishing failed).</param>
[GenerateSerializer, Immutable]
public sealed record CacheWrite([property: Id(0)] long EventId) : ICacheWriteResult
{
    /// <summary>What the grain method returns; the filter replaces it with the published id.</summary>
    public static CacheWrite Pending { get; } = new(0);

    /// <summary>Wraps a method's own result: <c>return CacheWrite.Of(order);</c>.</summary>
    public static CacheWrite<T> Of<T>(T value) => new(value, 0);

    object ICacheWriteResult.WithEventId(long eventId) => this with { EventId = eventId };
}

/// <summary>A grain method's own result with the id of the invalidation it published (see <see cref="CacheWrite"/>).</summary>
/// <param name="Value">The method's result.</param>
/// <param name="EventId">The invalidation's sequence; 0 when none was published.</param>
[GenerateSerializer]
public sealed record CacheWrite<T>([property: Id(0)] T Value, [property: Id(1)] long EventId) : ICacheWriteResult
{
    object ICacheWriteResult.WithEventId(long eventId) => this with { EventId = eventId };
}

/// <summary>A result the call filter can stamp with a published event id.</summary>
internal interface ICacheWriteResult
{
    long EventId { get; }

    object WithEventId(long eventId);
}
