using System.Diagnostics;

namespace CountCachula.AspNetCore.Streaming;

/// <summary>
/// The dispatch span: one per event and frontend, a child of the publish span whose context the event carries
/// (<see cref="CacheEvent.TraceParent"/>). A child rather than a link, so the publish's trace shows every frontend it
/// reached with its connection count, and a sampler that follows the parent keeps or drops the whole chain together.
/// </summary>
internal static class DispatchTracing
{
    private static readonly ActivitySource Source = new(CacheTracing.SourceName);

    /// <summary>
    /// Starts the span, or returns null at the cost of a field read and a listener check when the event carries no
    /// context (nothing traced its publish) or nothing listens here.
    /// </summary>
    public static Activity? Start(CacheEvent cacheEvent, string listener)
    {
        if (cacheEvent.TraceParent is not { } traceParent || !Source.HasListeners()
            || !ActivityContext.TryParse(traceParent, traceState: null, isRemote: true, out var parent))
        {
            return null;
        }

        // Consumer: the event arrived from another process (the hub's silo, through the streams).
        var activity = Source.StartActivity(CacheTracing.DispatchSpan, ActivityKind.Consumer, parent);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(CacheTracing.TenantTag, cacheEvent.Tenant);
            activity.SetTag(CacheTracing.KindTag, CacheTracing.KindName(cacheEvent.Kind));
            activity.SetTag(CacheTracing.TagCountTag, cacheEvent.Items.Count);
            activity.SetTag(CacheTracing.EventIdTag, cacheEvent.Sequence);
            activity.SetTag(CacheTracing.ListenerTag, listener);
        }

        return activity;
    }
}
