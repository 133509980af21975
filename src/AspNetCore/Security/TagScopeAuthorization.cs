using CountCachula.AspNetCore.Interests;
using Microsoft.AspNetCore.Authorization;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// The interests a caller asks for, checked against a grant: the resource of the <see cref="CountCachulaPolicies.TagScope"/>
/// policy. Which interests are asked for is only known inside the endpoint (the query, or an interest change's body),
/// so this rule is resource-based authorization, evaluated by the endpoint through <see cref="IAuthorizationService"/>.
/// </summary>
/// <param name="Grant">What the credential allows (for an interest change: the caller's, then the stream's own).</param>
/// <param name="Requested">The interests asked for.</param>
public sealed record ScopeCheck(CallerGrant Grant, IReadOnlyList<Interest> Requested);

/// <summary>The requirement of <see cref="CountCachulaPolicies.TagScope"/>: every requested interest lies inside the grant.</summary>
public sealed class TagScopeRequirement : IAuthorizationRequirement;

/// <summary>
/// Decides <see cref="TagScopeRequirement"/> for a <see cref="ScopeCheck"/>. An application may register its own
/// handlers for the same requirement to refuse more (one failing handler fails the policy); it cannot admit more.
/// </summary>
internal sealed class TagScopeAuthorizationHandler : AuthorizationHandler<TagScopeRequirement, ScopeCheck>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, TagScopeRequirement requirement, ScopeCheck resource)
    {
        if (CountCachulaAccess.OutsideScope(resource.Grant, resource.Requested) is { } problem)
        {
            context.Fail(new CountCachulaRefusal(this, problem));
        }
        else
        {
            context.Succeed(requirement);
        }

        return Task.CompletedTask;
    }
}
