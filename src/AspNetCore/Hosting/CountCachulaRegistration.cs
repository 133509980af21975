namespace CountCachula.AspNetCore.Hosting;

/// <summary>Marks a service collection that has <c>AddCountCachula()</c>.</summary>
internal sealed class CountCachulaMarker;

/// <summary>Marks a service collection that has <c>AddCountCachulaAuthentication()</c>.</summary>
internal sealed class CountCachulaAuthenticationMarker;

/// <summary>What mapping the hub's endpoints requires of the application's services.</summary>
internal static class CountCachulaRegistration
{
    /// <summary>
    /// Fails when the hub's services or its policies are missing: an endpoint mapped without its policies would fail
    /// every request, and one without the hub's services could not serve any, so the start fails instead, naming the call.
    /// </summary>
    public static void EnsureAdded(IEndpointRouteBuilder endpoints, string map)
    {
        if (endpoints.ServiceProvider.GetService<CountCachulaMarker>() is null)
        {
            throw new InvalidOperationException($"{map} needs the hub's services: call builder.Services.AddCountCachula().");
        }

        if (endpoints.ServiceProvider.GetService<CountCachulaAuthenticationMarker>() is null)
        {
            throw new InvalidOperationException($"{map} needs the hub's credential schemes and policies: call builder.Services.AddCountCachulaAuthentication().");
        }
    }
}
