using CountCachula.AspNetCore.Delivery;
using CountCachula.AspNetCore.Interests;
using CountCachula.AspNetCore.Security;
using CountCachula.AspNetCore.Streaming;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Endpoints;

/// <summary>Reading interests from clients and changing those of an open stream.</summary>
internal static class ConnectionInterests
{
    /// <summary>The most interests one connection may hold.</summary>
    public const int MaxPerConnection = CacheInput.MaxItemsPerCall;

    /// <summary>Parses interests, or returns a 400 ProblemDetails naming the first bad one.</summary>
    public static Interest[] Parse(IReadOnlyList<string?> texts, string field, out IResult? problem)
    {
        problem = null;
        if (texts.Count > MaxPerConnection)
        {
            problem = Invalid(field, $"'{field}' has {texts.Count} entries; a connection may hold at most {MaxPerConnection} interests.");
            return [];
        }

        var interests = new List<Interest>(texts.Count);
        for (var i = 0; i < texts.Count; i++)
        {
            if (texts[i] is not { } text)
            {
                problem = Invalid($"{field}[{i}]", $"{field}[{i}] is null; each interest is a tag or pattern string.");
                return [];
            }

            if (!Interest.TryParse(text.Trim(), out var interest, out var why))
            {
                problem = Invalid($"{field}[{i}]", why!.Replace("tags[0]", $"{field}[{i}]", StringComparison.Ordinal));
                return [];
            }

            if (!interests.Contains(interest))
            {
                interests.Add(interest);
            }
        }

        return [.. interests];
    }

    /// <summary>
    /// <c>POST /api/cache-events/{connectionId}/interests</c> with <c>{"add":[...],"remove":[...]}</c> and the stream's
    /// <c>X-Stream-Key</c>: once it answers 200, events for the new interests reach the stream and events for the removed
    /// ones no longer do. Additions must lie inside both the caller's scope and the scope of the credential that opened
    /// the stream, so a change can never widen a stream beyond what its own credential allowed.
    /// </summary>
    internal static async Task<IResult> ChangeAsync(
        string connectionId,
        HttpRequest request,
        ConnectionRegistry registry,
        TopicSubscriptions subscriptions,
        ConnectionLimits limits,
        IOptions<CountCachulaOptions> options)
    {
        var settings = options.Value;
        var grant = CountCachulaAccess.GrantOf(request.HttpContext);

        if (RequestChecks.BodyTooLarge(request.HttpContext, settings.MaxRequestBodyBytes) is { } tooLarge)
        {
            return tooLarge;
        }

        // A stream is only found within the caller's own tenant: another tenant's id is as unknown as a made-up one.
        var tenant = grant.Tenant;
        var connection = registry.Find(tenant, connectionId);
        if (connection is null)
        {
            return NotFound(connectionId);
        }

        // Knowing a stream's id (it travels in URLs and logs) is not owning it: the key from its 'connected' event is.
        if (!StreamKey.Matches(connection.StreamKey, request.Headers[StreamKey.Header].ToString()))
        {
            return CountCachulaAccess.Forbidden(
                "Not this stream's key",
                $"Changing a stream's interests needs the streamKey of its 'connected' event in the {StreamKey.Header} header.");
        }

        const string expected = "Send {\"add\":[...],\"remove\":[...]} as application/json.";
        if (!request.HasJsonContentType())
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed JSON", detail: expected);
        }

        var (change, unreadable) = await RequestChecks.ReadJsonAsync<InterestChange>(request, expected);
        if (change is null)
        {
            return unreadable!;
        }

        var add = Parse(change.Add ?? [], "add", out var problem);
        var remove = problem is null ? Parse(change.Remove ?? [], "remove", out problem) : [];
        if (problem is not null)
        {
            return problem;
        }

        if (await CountCachulaAccess.AuthorizeScopeAsync(request.HttpContext, add, connection.Grant is { } opened ? [grant, opened] : [grant]) is { } outside)
        {
            return outside;
        }

        await connection.InterestGate.WaitAsync(request.HttpContext.RequestAborted);
        try
        {
            if (connection.Closed)
            {
                return NotFound(connectionId);
            }

            var adding = add.Where(i => !connection.Interests.Contains(i)).ToArray();
            var removing = remove.Where(i => connection.Interests.Contains(i) && !add.Contains(i)).ToArray();
            var after = connection.Interests.Count + adding.Length - removing.Length;

            // A change that does not grow the stream is always allowed, so a stream over a limit can shrink back under it.
            if (after > MaxPerConnection && after > connection.Interests.Count)
            {
                return Invalid("add", $"A connection may hold at most {MaxPerConnection} interests; this one holds {connection.Interests.Count} and the change would leave {after}.");
            }

            // The interests count against the credential that opened the stream, whoever asks for the change.
            var credential = connection.Grant?.Credential;
            if (limits.TryListen(tenant, credential, adding, settings.MaxListenedTagsPerCredential) is { } overShare)
            {
                return TooMany(request.HttpContext.Response, "Too many distinct tags for this credential", overShare);
            }

            // New streams first, so the change never opens a gap; old ones are given back after the index forgot them.
            try
            {
                await subscriptions.AcquireAsync(tenant, adding, request.HttpContext.RequestAborted);
            }
            catch (ListenBudgetExceededException exception)
            {
                limits.Unlisten(tenant, credential, adding);
                return TooMany(request.HttpContext.Response, "Too many distinct tags", exception.Message);
            }
            catch (Exception exception) when (!request.HttpContext.RequestAborted.IsCancellationRequested)
            {
                // Nothing changed: the caller may retry as it is.
                limits.Unlisten(tenant, credential, adding);
                return Publishing.TransientFailures.Unavailable(request.HttpContext.Response, exception);
            }
            catch (OperationCanceledException)
            {
                limits.Unlisten(tenant, credential, adding);
                throw;
            }

            var index = registry.Index(tenant);
            foreach (var interest in adding)
            {
                connection.Interests.Add(interest);
                index.Add(connection, interest);
            }

            foreach (var interest in removing)
            {
                connection.Interests.Remove(interest);
                index.Remove(connection, interest);
            }

            limits.Unlisten(tenant, credential, removing);
            await subscriptions.ReleaseAsync(tenant, removing);
            return Results.Ok(new InterestsView(connection.Id, [.. connection.Interests.Select(i => i.ToString()).Order(StringComparer.Ordinal)]));
        }
        finally
        {
            connection.InterestGate.Release();
        }
    }

    private static IResult NotFound(string connectionId) => Results.Problem(
        statusCode: StatusCodes.Status404NotFound,
        title: "Unknown connection",
        detail: $"No open stream '{connectionId}' is held by this server; interests change on the server that holds the stream.");

    /// <summary>A 400 ValidationProblem naming <paramref name="key"/>, with <paramref name="message"/> as its detail.</summary>
    internal static IResult Invalid(string key, string message) =>
        Results.ValidationProblem(new Dictionary<string, string[]> { [key] = [message] }, detail: message);

    /// <summary>A 429 for a limit the caller reached, with the <c>Retry-After</c> every such refusal carries.</summary>
    internal static IResult TooMany(HttpResponse response, string title, string detail)
    {
        response.Headers.RetryAfter = "30";
        return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: title, detail: detail);
    }
}

/// <summary>The body of an interest change.</summary>
/// <param name="Add">Interests to add.</param>
/// <param name="Remove">Interests to remove.</param>
internal sealed record InterestChange(IReadOnlyList<string?>? Add, IReadOnlyList<string?>? Remove);

/// <summary>A stream's interests after a change.</summary>
/// <param name="ConnectionId">The stream.</param>
/// <param name="Interests">What it listens for now.</param>
internal sealed record InterestsView(string ConnectionId, IReadOnlyList<string> Interests);
