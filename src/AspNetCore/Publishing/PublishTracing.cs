using System.Diagnostics;

namespace CountCachula.AspNetCore.Publishing;

/// <summary>
/// Carries the caller's trace context (e.g. the HTTP request's span) with a publish call, so the hub's publish span
/// joins the caller's trace. Only the publish call carries it: Orleans' own propagation would make a span of every
/// grain call, background ones included.
/// </summary>
internal static class PublishTracing
{
    private static readonly ActivitySource Source = new(CacheTracing.SourceName);

    /// <summary>Publishes through <paramref name="hub"/>, with the current context when something traces publishes.</summary>
    public static Task<PublishReceipt> PublishAsync(ICacheHubGrain hub, CachePublication publication) =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C, Id: { } traceParent } && Source.HasListeners()
            ? PublishWithContextAsync(hub, publication, traceParent)
            : hub.Publish(publication);

    private static async Task<PublishReceipt> PublishWithContextAsync(ICacheHubGrain hub, CachePublication publication, string traceParent)
    {
        // Set inside an async method: the change stays in this call's flow and does not leak into the caller's later
        // grain calls.
        RequestContext.Set(CacheTracing.TraceParentKey, traceParent);
        return await hub.Publish(publication);
    }
}
