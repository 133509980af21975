using CountCachula.WebFrontend;
using CountCachula.WebFrontend.Hosting;
using Microsoft.Extensions.Options;

// `CountCachula.WebFrontend mint-token --tenant acme --tags "user:* posts:*" [--publish] [--admin] [--minutes 60]`
// prints a token signed with CountCachula:Auth:SigningKey (from configuration or --key), and nothing else, on stdout.
if (args is ["mint-token", ..])
{
    return TokenCommand.Run(args[1..]);
}

// `CountCachula.WebFrontend healthcheck [url]`: exit 0 when /health/ready answers 200. The container's HEALTHCHECK runs
// it, as the ASP.NET runtime image has neither curl nor wget.
if (args is ["healthcheck", ..])
{
    return await HealthCheckCommand.RunAsync(args[1..]);
}

// One silo with its web frontend: demo page at '/', SSE at /api/cache-events, publishing at /api/cache/*.
WebApplication app;
try
{
    app = FrontendHost.Build(args);

    // Validated here rather than inside Run so that bad settings are one line on stderr: inside Run the host logs the
    // exception with its stack and the runtime then prints it again as unhandled.
    app.Services.GetRequiredService<IStartupValidator>().Validate();

    // A port another program holds would otherwise fail the start with Kestrel's or Orleans' stack traces.
    if (FrontendHost.PortsInUse(app.Configuration) is { } taken)
    {
        Console.Error.WriteLine($"CountCachula did not start: {taken}");
        return 2;
    }
}
catch (Exception e) when (e is OptionsValidationException or InvalidOperationException
    || (e is AggregateException all && all.InnerExceptions.All(i => i is OptionsValidationException)))
{
    // Several sections refused at once (no signing key and no cluster TLS, say) arrive together: still one line.
    var message = e is AggregateException several ? string.Join("; ", several.InnerExceptions.Select(i => i.Message)) : e.Message;
    Console.Error.WriteLine($"CountCachula did not start: {message}");
    return 2;
}

app.Run();
return 0;
