namespace CountCachula;

/// <summary>
/// Count Cachula's traces: one <c>ActivitySource</c>, <see cref="SourceName"/>, for the publish span the hub starts and
/// the dispatch span each frontend starts for the same event. A host that sets up its own tracer adds this source.
/// </summary>
public static class CacheTracing
{
    /// <summary>The <c>ActivitySource</c> name: add it to a tracer provider to record the spans.</summary>
    public const string SourceName = "CountCachula";

    /// <summary>The name of the span of one publish, on the silo of the tenant's hub.</summary>
    internal const string PublishSpan = "countcachula.publish";

    /// <summary>The name of the span of one event's delivery to one frontend's connections.</summary>
    internal const string DispatchSpan = "countcachula.dispatch";

    /// <summary>
    /// The <c>RequestContext</c> key under which a publish call carries its caller's W3C trace context to the hub grain:
    /// the key Orleans' own activity propagation uses, so either can set it.
    /// </summary>
    internal const string TraceParentKey = "traceparent";

    /// <summary>Tag: the tenant.</summary>
    internal const string TenantTag = "countcachula.tenant";

    /// <summary>Tag: <c>invalidate</c>, <c>preload-hint</c> or <c>custom</c>.</summary>
    internal const string KindTag = "countcachula.kind";

    /// <summary>Tag: how many tags (invalidations) or routes (preload hints) the event carries; 0 for custom events.</summary>
    internal const string TagCountTag = "countcachula.tag_count";

    /// <summary>Tag: the event's id (its sequence, the SSE <c>id:</c>).</summary>
    internal const string EventIdTag = "countcachula.event_id";

    /// <summary>Tag on a publish that sequenced nothing: <c>repeated</c> (its idempotency key was seen) or <c>debounced</c> (gathered for a later event).</summary>
    internal const string OutcomeTag = "countcachula.outcome";

    /// <summary>Tag on a dispatch: the frontend that dispatched (its listener id, <c>silo-{address}</c> when co-hosted).</summary>
    internal const string ListenerTag = "countcachula.listener";

    /// <summary>Tag on a dispatch: how many of the frontend's connections the event was queued on.</summary>
    internal const string ConnectionsTag = "countcachula.connections";

    /// <summary>The kind as the tag and the metrics name it.</summary>
    internal static string KindName(CacheEventKind kind) => kind switch
    {
        CacheEventKind.Invalidate => "invalidate",
        CacheEventKind.PreloadHint => "preload-hint",
        _ => "custom",
    };
}
