using System.Globalization;

namespace CountCachula.AspNetCore.CacheTags;

/// <summary>
/// Read-your-writes for HTTP: when a request's code calls a grain method that declares its invalidation
/// (<see cref="InvalidatesCacheTagsAttribute"/>) and returns <see cref="CacheWrite"/> or <see cref="CacheWrite{T}"/>,
/// the response carries the published event's id in <c>CountCachula-Event-Id</c>, so the client can wait until its
/// stream reached that id before it refetches.
/// </summary>
/// <remarks>
/// An outgoing grain call filter of the web process (silo or client) sees the call's result as the caller does, after
/// the callee's filter filled in the id: it works whichever silo ran the grain. Orleans' <c>RequestContext</c> flows
/// only from caller to callee, which is why the id travels in the result. With several such calls in one request the
/// header holds the highest id (ids are per tenant: mix tenants in one request and the header is of no use).
/// </remarks>
internal sealed class CacheEventIdHeader(IHttpContextAccessor http) : IOutgoingGrainCallFilter
{
    /// <summary>The header's name.</summary>
    public const string Name = "CountCachula-Event-Id";

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        await context.Invoke();
        if (context.Result is not ICacheWriteResult { EventId: > 0 } write || http.HttpContext?.Response is not { HasStarted: false } response)
        {
            return;
        }

        if (long.TryParse(response.Headers[Name], NumberStyles.None, CultureInfo.InvariantCulture, out var earlier) && earlier >= write.EventId)
        {
            return;
        }

        response.Headers[Name] = write.EventId.ToString(CultureInfo.InvariantCulture);
    }
}
