using System.Diagnostics;

namespace CountCachula.Grains;

/// <summary>
/// The hub's publish span. <see cref="ActivitySource.StartActivity(string, ActivityKind)"/> returns null when nothing
/// listens to <see cref="CacheTracing.SourceName"/>, so with tracing off a publish costs one listener check.
/// </summary>
internal static class HubTracing
{
    private static readonly ActivitySource Source = new(CacheTracing.SourceName);

    /// <summary>
    /// Starts the span of one publish, a child of the caller's context: the incoming call's activity when Orleans'
    /// activity propagation made one, else the context the caller put in the request context
    /// (<see cref="CacheTracing.TraceParentKey"/>), else the root of a new trace. Producer: it hands the event on to
    /// other processes.
    /// </summary>
    public static Activity? StartPublish(string tenant, CacheEventKind kind, int tagCount)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Activity.Current is null && RequestContext.Get(CacheTracing.TraceParentKey) is string traceParent
            && ActivityContext.TryParse(traceParent, traceState: null, isRemote: true, out var caller)
            ? Source.StartActivity(CacheTracing.PublishSpan, ActivityKind.Producer, caller)
            : Source.StartActivity(CacheTracing.PublishSpan, ActivityKind.Producer);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(CacheTracing.TenantTag, tenant);
            activity.SetTag(CacheTracing.KindTag, CacheTracing.KindName(kind));
            activity.SetTag(CacheTracing.TagCountTag, tagCount);
        }

        return activity;
    }

    /// <summary>
    /// The context an event carries to the frontends: the current activity's (the publish span's, when it was
    /// started), in W3C form; null when nothing traces, so an untraced event costs nothing downstream.
    /// </summary>
    public static string? CurrentTraceParent() =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C } current && current.Source.Name == CacheTracing.SourceName ? current.Id : null;

    /// <summary>Marks the span as failed, with the exception's type and message (OpenTelemetry's exception event).</summary>
    public static void Failed(Activity? activity, Exception exception)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetStatus(ActivityStatusCode.Error, exception.Message);
        activity.AddException(exception);
    }
}
