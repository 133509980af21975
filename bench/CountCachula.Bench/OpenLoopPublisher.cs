using System.Diagnostics;
using System.Text;

namespace CountCachula.Bench;

/// <summary>
/// The open-loop publisher: event k is sent at start + k/R whatever the previous requests are doing, so a hub that
/// answers slowly meets the same offered load as a fast one (a closed loop would slow down with it and hide the backlog).
/// </summary>
/// <param name="http">The client the invalidations go out on (its connection limit should be at least 64).</param>
/// <param name="rate">Invalidations per second.</param>
/// <param name="padding">Extra JSON array elements after the event's own tag (<c>--tag-bytes</c>), or empty.</param>
internal sealed class OpenLoopPublisher(HttpClient http, double rate, string padding = "") : IDisposable
{
    // At most 64 requests in flight: past that a send waits for one to finish rather than queueing without bound.
    private readonly SemaphoreSlim _inFlight = new(64);
    private int _errors;

    /// <summary>Publishes that failed or were not answered with a success status.</summary>
    public int Errors => Volatile.Read(ref _errors);

    /// <summary>
    /// Sends <paramref name="count"/> invalidations of <paramref name="tagOf"/>(k) to <paramref name="targetOf"/>(k) at the
    /// rate, and returns once the last is under way; the tasks complete when their answers are in.
    /// <paramref name="beforeSend"/> runs just before event k's request is written (its latency starts there).
    /// </summary>
    public async Task<List<Task>> PublishAsync(int count, Func<int, Uri> targetOf, Func<int, string> tagOf, Action<int>? beforeSend, CancellationToken cutOff = default)
    {
        var publishes = new List<Task>(count);
        var start = Stopwatch.GetTimestamp();
        for (var k = 0; k < count && !cutOff.IsCancellationRequested; k++)
        {
            var due = start + (long)(k / rate * Stopwatch.Frequency);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(2))
            {
                await Task.Delay(wait - TimeSpan.FromMilliseconds(1));
            }

            while (Stopwatch.GetTimestamp() < due)
            {
                Thread.SpinWait(20);
            }

            try
            {
                await _inFlight.WaitAsync(cutOff);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var number = k;
            publishes.Add(Task.Run(async () =>
            {
                try
                {
                    using var content = new StringContent($"{{\"tags\":[\"{tagOf(number)}\"{padding}]}}", Encoding.UTF8, "application/json");
                    beforeSend?.Invoke(number);
                    using var response = await http.PostAsync(targetOf(number), content);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref _errors);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref _errors);
                }
                finally
                {
                    _inFlight.Release();
                }
            }));
        }

        return publishes;
    }

    public void Dispose() => _inFlight.Dispose();
}
