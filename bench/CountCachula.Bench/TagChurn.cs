using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace CountCachula.Bench;

/// <summary>
/// <c>--churn-tags N</c>: while the measured events are published, one extra client opens a stream once a second, gives
/// it N exact tags nobody else listens to (one interest change, so the request line stays short), and closes it again.
/// The publishers' latency is then a bystander's under that registration load, and the time from the request to the
/// answer of the interest change is how long a connection with N tags takes to open.
/// </summary>
internal sealed class TagChurn(HttpClient http, Uri silo, int tags)
{
    private readonly LatencyHistogram _openTimes = new();
    private int _opened;
    private int _failed;

    /// <summary>Opens and closes N-tag streams until <paramref name="cancellation"/> fires.</summary>
    public async Task RunAsync(CancellationToken cancellation)
    {
        for (var round = 0; !cancellation.IsCancellationRequested; round++)
        {
            var due = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
            try
            {
                await OpenOnceAsync(round, cancellation);
                await Task.Delay(Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due) is { Ticks: > 0 } wait ? wait : TimeSpan.Zero, cancellation);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is HttpRequestException or IOException or InvalidOperationException)
            {
                // Refused (e.g. 429 past the tenant's tag budget) or cut: counted, and the next round goes on.
                _failed++;
            }
        }
    }

    /// <summary>The figures for the result line: streams opened and their open time.</summary>
    public string Figures() => _opened == 0
        ? $" churn_tags={tags} churn_opened=0 churn_failed={_failed}"
        : $" churn_tags={tags} churn_opened={_opened} churn_failed={_failed} churn_open_p50={F(_openTimes.Percentile(50))}ms churn_open_max={F(_openTimes.MaxMilliseconds)}ms";

    private async Task OpenOnceAsync(int round, CancellationToken cancellation)
    {
        var started = Stopwatch.GetTimestamp();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(silo, $"/api/cache-events?tags=churn-{round}-0"));
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation));
        var connected = await ConnectedAsync(reader, cancellation);

        // A round's tags are new to the cluster: each registration is a real one, not a reference count going up.
        var add = Enumerable.Range(1, tags - 1).Select(i => $"churn-{round}-{i}").ToArray();
        using var change = new HttpRequestMessage(HttpMethod.Post, new Uri(silo, $"/api/cache-events/{connected.ConnectionId}/interests"))
        {
            Content = JsonContent.Create(new { add }),
        };
        change.Headers.Add("X-Stream-Key", connected.StreamKey);
        using var changed = await http.SendAsync(change, cancellation);
        changed.EnsureSuccessStatusCode();
        _openTimes.Record(Stopwatch.GetTimestamp() - started);
        _opened++;
    }

    private static async Task<Connected> ConnectedAsync(StreamReader reader, CancellationToken cancellation)
    {
        var isConnected = false;
        while (await reader.ReadLineAsync(cancellation) is { } line)
        {
            if (line == "event: connected")
            {
                isConnected = true;
            }
            else if (isConnected && line.StartsWith("data: ", StringComparison.Ordinal))
            {
                return JsonSerializer.Deserialize<Connected>(line["data: ".Length..], JsonSerializerOptions.Web)!;
            }
        }

        throw new InvalidOperationException("The churn stream ended before 'connected'.");
    }

    private static string F(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);

    private sealed record Connected(string ConnectionId, string StreamKey);
}
