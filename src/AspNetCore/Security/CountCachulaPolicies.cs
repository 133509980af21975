using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// The hub's authorization policies. Put one on any endpoint or route group with
/// <c>.RequireAuthorization(CountCachulaPolicies.Operator)</c>; it works with every credential kind the hub knows
/// (a JWT in the header, cookie or <c>access_token</c>; an <c>X-Api-Key</c> where publishing is concerned) and answers a
/// refusal with the same RFC 7807 ProblemDetails as the hub's own endpoints. With auth off every policy admits anyone
/// (the tenant still comes from <c>?tenant=</c> and must be one the hub serves).
/// </summary>
public static class CountCachulaPolicies
{
    /// <summary>May open a stream: a token for a tenant the hub serves; its <c>tags</c> say what it may listen to.</summary>
    public const string Subscriber = "CountCachula.Subscriber";

    /// <summary>May publish: an API key, or a token with the <c>publish</c> scope.</summary>
    public const string Publisher = "CountCachula.Publisher";

    /// <summary>May see the operator views (dashboard, diagnostics, metrics): a token with the <c>admin</c> scope.</summary>
    public const string Operator = "CountCachula.Operator";

    /// <summary>
    /// The requested interests lie inside a grant (a resource policy: the endpoint evaluates it for a
    /// <see cref="ScopeCheck"/>, see <see cref="CountCachulaAccess.AuthorizeScopeAsync"/>).
    /// </summary>
    public const string TagScope = "CountCachula.TagScope";
}

/// <summary>Which of the hub's rules a policy applies.</summary>
internal enum CallerRole
{
    Subscriber,
    Publisher,
    Operator,
}

/// <summary>The requirement behind each of <see cref="CountCachulaPolicies"/>.</summary>
internal sealed class CountCachulaRequirement(CallerRole role) : IAuthorizationRequirement
{
    public CallerRole Role { get; } = role;
}

/// <summary>
/// Decides a <see cref="CountCachulaRequirement"/>: authenticates the request with the scheme its role uses, applies the
/// tenant, scope and role rules, and on success leaves the caller's <see cref="CallerGrant"/> on the request for the
/// endpoint (<see cref="CountCachulaAccess.GrantOf"/>). A refusal carries the exact ProblemDetails to answer with.
/// </summary>
internal sealed class CountCachulaAuthorizationHandler(IOptions<CountCachulaOptions> options) : AuthorizationHandler<CountCachulaRequirement>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, CountCachulaRequirement requirement)
    {
        if (context.Resource is not HttpContext http)
        {
            context.Fail(new AuthorizationFailureReason(this, "The Count Cachula policies apply to HTTP requests only."));
            return;
        }

        // The hub's policies read the query (the tenant, a token): in the shape the real client writes it.
        ClientQueryShape.Apply(http);
        var settings = options.Value;
        var (grant, problem) = requirement.Role switch
        {
            CallerRole.Subscriber => await CountCachulaAccess.SubscriberAsync(http, settings),
            CallerRole.Publisher => await CountCachulaAccess.PublisherAsync(http, settings),
            _ => await CountCachulaAccess.OperatorAsync(http, settings),
        };
        if (grant is null)
        {
            // Kept on the request too: ASP.NET Core passes a failure's reasons on for a 403 but not for a challenge.
            var refusal = new CountCachulaRefusal(this, problem!);
            http.Features.Set(refusal);
            context.Fail(refusal);
            return;
        }

        // An endpoint under two policies (e.g. an operator route inside a subscriber group) keeps the first grant.
        if (http.Features.Get<CallerGrant>() is null)
        {
            http.Features.Set(grant);
        }

        context.Succeed(requirement);
    }
}

/// <summary>A refusal and the ProblemDetails that explains it.</summary>
internal sealed class CountCachulaRefusal(IAuthorizationHandler handler, IResult problem)
    : AuthorizationFailureReason(handler, "Refused by the Count Cachula access rules.")
{
    public IResult Problem { get; } = problem;
}

/// <summary>
/// Answers a refusal of the hub's policies with its own ProblemDetails (401 with <c>WWW-Authenticate: Bearer</c>, 403,
/// or 400 for a malformed tenant) instead of a bare challenge; every other result, of any policy, goes to the handler
/// it wraps (the application's own, or ASP.NET Core's default), unchanged.
/// </summary>
internal sealed class CountCachulaAuthorizationResultHandler(IAuthorizationMiddlewareResultHandler inner) : IAuthorizationMiddlewareResultHandler
{
    /// <summary>The handler this one hands every result to that is not a refusal by the hub's policies.</summary>
    internal IAuthorizationMiddlewareResultHandler Inner { get; } = inner;

    /// <summary>
    /// Registers this handler around the one <paramref name="services"/> holds so far (the application's, when it
    /// registered one; else ASP.NET Core's default). A handler the application registers later replaces it; the hub's
    /// refusals then get that handler's answer (a challenge or a forbid), still refusals.
    /// </summary>
    internal static void Wrap(IServiceCollection services)
    {
        var existing = services.LastOrDefault(s => s.ServiceType == typeof(IAuthorizationMiddlewareResultHandler) && !s.IsKeyedService);
        services.RemoveAll<IAuthorizationMiddlewareResultHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler>(provider => new CountCachulaAuthorizationResultHandler(existing switch
        {
            null => new AuthorizationMiddlewareResultHandler(),
            { ImplementationInstance: IAuthorizationMiddlewareResultHandler instance } => instance,
            { ImplementationFactory: { } factory } => (IAuthorizationMiddlewareResultHandler)factory(provider),
            { ImplementationType: { } type } => (IAuthorizationMiddlewareResultHandler)ActivatorUtilities.CreateInstance(provider, type),
            _ => new AuthorizationMiddlewareResultHandler(),
        }));
    }

    // Not async: an authorized request's task is the rest of the pipeline, an SSE stream's for as long as it is open,
    // and a state machine awaiting it here would be kept (136 bytes) for every open stream.
    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (!authorizeResult.Succeeded
            && (authorizeResult.AuthorizationFailure?.FailureReasons.OfType<CountCachulaRefusal>().FirstOrDefault() ?? context.Features.Get<CountCachulaRefusal>()) is { } refusal)
        {
            return refusal.Problem.ExecuteAsync(context);
        }

        return Inner.HandleAsync(next, context, policy, authorizeResult);
    }
}
