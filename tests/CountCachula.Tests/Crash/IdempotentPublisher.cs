using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;

namespace CountCachula.Tests.Crash;

/// <summary>
/// A backend publishing through the balancer as the documentation tells it to: every event carries its own
/// <c>Idempotency-Key</c>, and a transient failure (503/502/504/429, a broken or refused connection, no answer in
/// time) is retried with the same key after <c>Retry-After</c> (100 ms when none is given), so a retry can never
/// become a second event. Any other answer is final. Event n carries the tags <c>e-n</c> and <c>grp-(n mod 3):n</c>.
/// </summary>
public sealed class IdempotentPublisher(HttpClient http, Uri balancer, string apiKey, string run)
{
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<int, long> _accepted = new();
    private readonly ConcurrentDictionary<int, string> _refused = new();
    private readonly ConcurrentDictionary<string, int> _retried = new();
    private long _lastAccepted;
    private long _longestGap;

    /// <summary>Events answered 202, with the moment the answer arrived.</summary>
    public IReadOnlyDictionary<int, long> Accepted => _accepted;

    /// <summary>Events given up on, with the final answer (e.g. "500" — a publisher cannot know whether it went out).</summary>
    public IReadOnlyDictionary<int, string> Refused => _refused;

    /// <summary>Transient failures that were retried, by cause.</summary>
    public IReadOnlyDictionary<string, int> Retried => _retried;

    /// <summary>The longest time between two consecutive 202s: how long publishing stalled.</summary>
    public TimeSpan LongestGap => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _longestGap));

    public async Task PublishAsync(int n, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        while (true)
        {
            var wait = TimeSpan.FromMilliseconds(100);
            string cause;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(balancer, "/api/cache/invalidate"))
                {
                    Content = JsonContent.Create(new { tags = new[] { $"e-{n}", $"grp-{n % 3}:{n}" } }),
                };
                request.Headers.Add("X-Api-Key", apiKey);
                request.Headers.Add("Idempotency-Key", $"{run}-{n}");
                using var response = await http.SendAsync(request, cancellationToken);
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    Accept(n);
                    return;
                }

                if (response.StatusCode is not (HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout or HttpStatusCode.TooManyRequests))
                {
                    _refused[n] = $"{(int)response.StatusCode}";
                    return;
                }

                cause = $"{(int)response.StatusCode}";
                if (response.Headers.RetryAfter?.Delta is { } delta)
                {
                    wait = delta > TimeSpan.FromSeconds(2) ? TimeSpan.FromSeconds(2) : delta;
                }
            }
            catch (HttpRequestException exception)
            {
                cause = exception.HttpRequestError.ToString();
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                cause = "no answer in time";
            }

            _retried.AddOrUpdate(cause, 1, (_, count) => count + 1);
            if (started.Elapsed > GiveUpAfter)
            {
                _refused[n] = $"still failing after {GiveUpAfter.TotalSeconds} s ({cause})";
                return;
            }

            await Task.Delay(wait, cancellationToken);
        }
    }

    private void Accept(int n)
    {
        var now = Stopwatch.GetTimestamp();
        _accepted[n] = now;
        var previous = Interlocked.Exchange(ref _lastAccepted, now);
        if (previous != 0 && now - previous > Interlocked.Read(ref _longestGap))
        {
            Interlocked.Exchange(ref _longestGap, now - previous);
        }
    }
}
