using System.Globalization;
using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Sse;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>
/// Where a reconnecting browser left off — the <c>Last-Event-ID</c> header, else a <c>lastEventId</c> query parameter,
/// else <c>since=&lt;ISO-8601&gt;</c> (what <c>@countcachula/core</c> sends) — and the frames that catch it up.
/// </summary>
internal sealed record ReplayRequest(long? AfterSequence, DateTime? Since, bool Unreadable)
{
    /// <summary>The longest resume id read at all: ids this hub issues are at most 19 digits.</summary>
    public const int MaxIdLength = 32;

    /// <summary>
    /// A 400 for a resume id no EventSource would send — longer than <see cref="MaxIdLength"/> or holding control
    /// characters; a short id that is merely unknown is answered with a reset instead, as browsers do send stale ids.
    /// </summary>
    public static IResult? Problem(HttpRequest request)
    {
        foreach (var (name, value) in new[] { ("Last-Event-ID", request.Headers["Last-Event-ID"].ToString()), ("lastEventId", request.Query["lastEventId"].ToString()), ("since", request.Query["since"].ToString()) })
        {
            if (value.Length > MaxIdLength + 8 || value.Any(char.IsControl))
            {
                var why = value.Length > MaxIdLength + 8 ? $"is {value.Length} characters long" : "contains control characters";
                return Results.ValidationProblem(
                    new Dictionary<string, string[]> { [name] = [$"'{name}' {why}; this hub issues numeric ids of at most 19 digits."] },
                    detail: $"The resume point '{name}' {why}.");
            }
        }

        return null;
    }

    /// <summary>Reads the request's resume point, or null when it names none (a first connection).</summary>
    public static ReplayRequest? From(HttpRequest request)
    {
        var id = request.Headers["Last-Event-ID"].ToString();
        if (id.Length == 0)
        {
            id = request.Query["lastEventId"].ToString();
        }

        if (id.Length > 0)
        {
            // An id we cannot read is one we never issued: the browser must start over, not be refused. 0 is the start
            // point of a stream opened before this server knew of any event of its tenant ('connected' says so).
            return long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var after) && after >= 0
                ? new ReplayRequest(after, null, false)
                : new ReplayRequest(null, null, true);
        }

        var since = request.Query["since"].ToString();
        if (since.Length == 0)
        {
            return null;
        }

        // A 'since' after now comes from a client whose clock runs ahead: "nothing missed since then" would silently
        // skip what was published between its real last fetch and now, so it starts over like an unreadable id.
        return DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) && at.UtcDateTime <= DateTime.UtcNow
            ? new ReplayRequest(null, at.UtcDateTime, false)
            : new ReplayRequest(null, null, true);
    }

    /// <summary>
    /// Asks the tenant's hub what was missed and turns it into frames (see <see cref="Frames"/>); when the history
    /// cannot say, a <c>reset</c> event and an invalidation of <c>*</c>.
    /// </summary>
    /// <returns>The frames, the sequence through which live events are now covered, and whether the history could say.</returns>
    public async Task<(List<SseFrame> Frames, long Through, bool Complete)> ReplayAsync(IGrainFactory grains, SseConnection connection)
    {
        var hub = grains.GetGrain<ICacheHubGrain>(connection.Tenant);
        var replay = Unreadable ? await hub.Replay(long.MaxValue, null) : await hub.Replay(AfterSequence, Since);
        if (Unreadable || !replay.Complete)
        {
            return (
            [
                SseFrame.Create(id: null, "reset", """{"reason":"history-unavailable"}"""),
                SseFrame.Invalidation(["*"], connection.Format, replay.Through),
            ], replay.Through, false);
        }

        return (Frames(replay.Events, connection, replay.Through), replay.Through, true);
    }

    /// <summary>
    /// What <paramref name="connection"/> missed of <paramref name="events"/>, in as few frames as correct: the custom
    /// events it is interested in, then one invalidation with the union of its missed tags, carrying
    /// <paramref name="through"/> as its id.
    /// </summary>
    public static List<SseFrame> Frames(IReadOnlyList<CacheEvent> events, SseConnection connection, long through)
    {
        var index = new InterestIndex();
        foreach (var interest in connection.Interests)
        {
            index.Add(connection, interest);
        }

        SseConnection[] self = [connection];
        var frames = new List<SseFrame>();
        var missed = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var cacheEvent in events)
        {
            var address = cacheEvent.AddressTags;
            var matched = address is null ? [] : index.Match(address, self).GetValueOrDefault(connection);
            switch (cacheEvent.Kind)
            {
                case CacheEventKind.Invalidate when matched is not null:
                    foreach (var position in matched)
                    {
                        if (seen.Add(address![position]))
                        {
                            missed.Add(address[position]);
                        }
                    }

                    break;
                case CacheEventKind.Custom when (address is null && (connection.GrantsAll || !cacheEvent.ForFullGrantsOnly)) || matched is { Count: > 0 }:
                    frames.Add(SseFrame.From(cacheEvent, cacheEvent.Items, connection.Format));
                    break;
                default:
                    // Preload hints are not replayed: a hint for a page that has moved on is noise.
                    break;
            }
        }

        if (missed.Count > 0)
        {
            frames.Add(SseFrame.Invalidation(missed, connection.Format, through));
        }

        return frames;
    }
}
