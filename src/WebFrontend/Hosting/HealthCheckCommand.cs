namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// The <c>healthcheck</c> command: asks a running frontend whether it is ready, for a container <c>HEALTHCHECK</c> in an
/// image without curl. Exit code 0 when <c>/health/ready</c> answers 200 within 5 s, 1 otherwise.
/// </summary>
internal static class HealthCheckCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        // The runtime images listen on ASPNETCORE_HTTP_PORTS (8080 unless changed); the check asks the same process's port.
        var port = (Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS") ?? "8080").Split([';', ','])[0].Trim();
        var url = args is [var given, ..] ? given : $"http://127.0.0.1:{port}/health/ready";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(url);
            if (response.IsSuccessStatusCode)
            {
                return 0;
            }

            Console.Error.WriteLine($"{url} answered {(int)response.StatusCode}.");
            return 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            Console.Error.WriteLine($"{url} did not answer: {e.Message}");
            return 1;
        }
    }
}
