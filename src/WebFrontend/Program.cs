using CountCachula.WebFrontend;
using CountCachula.WebFrontend.Hosting;

// `dotnet run --project src/WebFrontend -- mint-token --tenant acme --tags "user:* posts:*" [--publish] [--admin] [--minutes 60]`
// prints a token signed with CountCachula:Auth:SigningKey (from configuration or --key).
if (args is ["mint-token", ..])
{
    return TokenCommand.Run(args[1..]);
}

// One silo with its web frontend: demo page at '/', SSE at /api/cache-events, publishing at /api/cache/*.
var app = FrontendHost.Build(args);
app.Run();
return 0;
