using System.Text.Json;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>
/// Checks every hub endpoint applies to what a request sends, before or while reading it: query bytes that are not
/// UTF-8, a body over <see cref="CountCachulaOptions.MaxRequestBodyBytes"/>, a body that is not the JSON expected.
/// Each refusal is an RFC 7807 answer saying what was wrong.
/// </summary>
internal static class RequestChecks
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// ASP.NET Core leaves percent-escapes that do not decode to UTF-8 in place (so <c>%FF</c> would become a tag
    /// named "%FF"); a client that sends such bytes means something the hub cannot know, so it is told.
    /// </summary>
    public static IResult? QueryProblem(HttpRequest request)
    {
        var raw = request.QueryString.Value;
        if (string.IsNullOrEmpty(raw) || !raw.Contains('%'))
        {
            return null;
        }

        var bytes = new List<byte>(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '%' && i + 2 < raw.Length && byte.TryParse(raw.AsSpan(i + 1, 2), System.Globalization.NumberStyles.HexNumber, null, out var value))
            {
                bytes.Add(value);
                i += 2;
            }
            else
            {
                bytes.Add((byte)(raw[i] < 128 ? raw[i] : '?'));
            }
        }

        return System.Text.Unicode.Utf8.IsValid(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes))
            ? null
            : Results.ValidationProblem(
                new Dictionary<string, string[]> { ["query"] = ["The query string holds percent-encoded bytes that are not valid UTF-8."] },
                detail: "The query string holds percent-encoded bytes that are not valid UTF-8; encode tags as UTF-8 (encodeURIComponent does).");
    }

    /// <summary>
    /// Caps what the request may send at <paramref name="limit"/> bytes: a declared larger body is refused at once, an
    /// undeclared (chunked) one fails while it is read, which <see cref="ReadJsonAsync{T}"/> turns into the same 413.
    /// </summary>
    public static IResult? BodyTooLarge(HttpContext http, long limit)
    {
        if (http.Request.ContentLength > limit)
        {
            return TooLarge(limit);
        }

        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limit;
        }

        return null;
    }

    /// <summary>
    /// Reads the body as <typeparamref name="T"/>: a body over the size cap is a 413, unreadable JSON (invalid UTF-8
    /// included) or the literal <c>null</c> a 400 (<paramref name="nullDetail"/> says what was expected).
    /// </summary>
    public static async Task<(T? Body, IResult? Problem)> ReadJsonAsync<T>(HttpRequest request, string nullDetail)
        where T : class
    {
        try
        {
            var body = await JsonSerializer.DeserializeAsync<T>(request.Body, s_json, request.HttpContext.RequestAborted);
            return body is null
                ? (null, Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed JSON", detail: nullDetail))
                : (body, null);
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge(request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize ?? 0));
        }
        catch (JsonException exception)
        {
            return (null, Results.Problem(
                statusCode: StatusCodes.Status400BadRequest,
                title: "Malformed JSON",
                detail: $"The body is not the expected JSON object ({exception.Path ?? "$"}, line {exception.LineNumber}, byte {exception.BytePositionInLine})."));
        }
    }

    private static IResult TooLarge(long limit) => Results.Problem(
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "Body too large",
        detail: $"The request body exceeds {limit} bytes ({CountCachulaOptions.SectionName}:{nameof(CountCachulaOptions.MaxRequestBodyBytes)}).");
}
