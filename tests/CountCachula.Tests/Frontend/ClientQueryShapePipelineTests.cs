using CountCachula.AspNetCore.Endpoints;
using CountCachula.Tests.CacheTags;
using CountCachula.Tests.Infrastructure;
using CountCachula.Tests.Security;
using CountCachula.WebFrontend.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using CountCachula.AspNetCore.Hosting;
using CountCachula.AspNetCore.Security;

namespace CountCachula.Tests.Frontend;

/// <summary>
/// An application whose authentication runs as middleware (<c>UseAuthentication</c> with the hub's JwtBearer scheme as
/// the default): the client's query shape is rewritten before that middleware reads <c>access_token</c>.
/// </summary>
public sealed class ClientQueryShapePipelineTests
{
    [Fact]
    public async Task The_rewrite_runs_before_the_authentication_middleware()
    {
        await using var app = await TaggedApp.StartAsync(
            "shape-" + Guid.NewGuid().ToString("N")[..8],
            null,
            [new("CountCachula:Auth:Enabled", "true"), new("CountCachula:Auth:SigningKey", AuthFixture.Key)],
            configure: builder => builder.Services.AddAuthentication(CountCachulaAccess.Scheme),
            map: web => web.MapGet("/whoami", (HttpContext context) => context.User.FindFirst(CountCachulaAccess.TenantClaim)?.Value ?? "(anonymous)")
                .WithMetadata(new ClientQueryShapeMetadata()));
        var since = DateTime.UtcNow.ToString("O");

        var who = await app.Http.GetStringAsync($"/whoami?access_token={AuthFixture.Token()}?since={since}");
        await using var stream = await SseClient.ConnectAsync(app.Http, $"/api/cache-events?access_token={AuthFixture.Token()}?since={since}");

        Assert.Equal("acme", who);
        Assert.Equal("connected", (await stream.NextAsync("connected with the client's URL shape")).EventType);
    }
}
