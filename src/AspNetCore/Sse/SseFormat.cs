namespace CountCachula.AspNetCore.Sse;

/// <summary>The wire format a connection asked for (<c>?format=</c>).</summary>
internal enum SseFormat
{
    /// <summary>
    /// What <c>@countcachula/core</c> reads: <c>invalidate</c> and <c>preload-hint</c> with comma-joined data; commas
    /// inside a tag or route are sent as <c>%2C</c>.
    /// </summary>
    Default,

    /// <summary>
    /// The JSON format (<c>?format=json</c>): <c>invalidate</c> and <c>preload</c> events whose data is a JSON array;
    /// values travel exactly as published.
    /// </summary>
    Json,
}
