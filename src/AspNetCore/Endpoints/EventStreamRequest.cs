using CountCachula.AspNetCore.Sse;
using Microsoft.Net.Http.Headers;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>What a stream request asks for beyond its interests: a wire format, and whether it accepts an event stream.</summary>
internal static class EventStreamRequest
{
    /// <summary>The wire format asked for with <c>?format=</c>, or a 400 naming the unknown one.</summary>
    public static bool TryReadFormat(HttpRequest request, out SseFormat format, out IResult problem)
    {
        var requested = request.Query["format"].ToString();
        format = SseFormat.Default;
        problem = Results.Empty;
        switch (requested)
        {
            case "" or "default" or "countcachula":
                return true;
            case "json":
                format = SseFormat.Json;
                return true;
            default:
                problem = Results.ValidationProblem(
                    new Dictionary<string, string[]> { ["format"] = [$"Unknown format; use 'json' or leave it out for the default comma-joined format."] },
                    detail: "The 'format' query parameter must be 'json' or absent.");
                return false;
        }
    }

    /// <summary>Whether the request's <c>Accept</c> allows <c>text/event-stream</c> (no <c>Accept</c> at all does).</summary>
    public static bool AcceptsEventStream(HttpRequest request)
    {
        if (request.Headers.Accept.Count == 0)
        {
            return true;
        }

        if (!MediaTypeHeaderValue.TryParseList(request.Headers.Accept, out var accepted))
        {
            return false;
        }

        return accepted.Any(media => media.MatchesAllTypes
            || media.MediaType.Equals("text/*", StringComparison.OrdinalIgnoreCase)
            || media.MediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase));
    }
}
