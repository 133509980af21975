using System.Diagnostics;
using System.Text.Json;
using CountCachula.Tests.Infrastructure;

namespace CountCachula.Tests.Crash;

/// <summary>
/// One browser's EventSource on the balancer's URL: when its stream ends or breaks it waits the server's last
/// <c>retry:</c> (3 s before it has seen one, EventSource's own default) and reconnects to the same URL with the
/// <c>Last-Event-ID</c> it last saw. It records what a failover test asserts on: when each stream broke and when the
/// next one said <c>connected</c>, when each published event (keyed by the number in its <c>grp-g:n</c> tag) first
/// arrived and under which event ids, and every non-200 answer to a connect — on which a real EventSource gives up
/// for good (this one goes on, so the test can report them all).
/// </summary>
public sealed class EventSourceReader(int index, Uri url, Func<int, bool> wants)
{
    private readonly object _gate = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<int, long> _received = [];
    private readonly Dictionary<int, HashSet<string>> _ids = [];
    private readonly List<long> _breaks = [];
    private readonly List<long> _connects = [];
    private readonly List<string> _refusals = [];
    private readonly List<string> _backwards = [];
    private readonly SemaphoreSlim _progress = new(0);
    private string? _lastEventId;
    private long _highestId;
    private TimeSpan? _retry;
    private int _redeliveries;
    private int _resets;

    public int Index => index;

    public Uri Url => url;

    public Task FirstConnected => _connected.Task;

    /// <summary>Events seen again under an id already seen (a replay overlapping live delivery): harmless, counted.</summary>
    public int Redeliveries { get { lock (_gate) { return _redeliveries; } } }

    /// <summary><c>reset</c> events: the server could not replay and told the client to start over.</summary>
    public int Resets { get { lock (_gate) { return _resets; } } }

    /// <summary>Ids that did not rise: an event id at or below one this client had already seen ("5 after 7").</summary>
    public IReadOnlyList<string> IdsBackwards { get { lock (_gate) { return [.. _backwards]; } } }

    /// <summary>Non-200 answers to a connect, e.g. "500 after kill +1.2 s".</summary>
    public IReadOnlyList<string> Refusals { get { lock (_gate) { return [.. _refusals]; } } }

    public async Task RunAsync(HttpClient http, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            SseClient? client = null;
            try
            {
                client = await SseClient.ConnectAsync(http, url.ToString(), TimeSpan.FromSeconds(30), request =>
                {
                    if (_lastEventId is not null)
                    {
                        request.Headers.Add("Last-Event-ID", _lastEventId);
                    }
                }).WaitAsync(stop);
                await ReadAsync(client, stop);
            }
            catch (HttpRequestException exception) when (exception.StatusCode is { } status && !stop.IsCancellationRequested)
            {
                lock (_gate)
                {
                    _refusals.Add($"{(int)status} {status}");
                }
            }
            catch (Exception) when (!stop.IsCancellationRequested)
            {
                // The stream broke (its silo died) or the connect failed on the network: EventSource reconnects.
            }
            catch (Exception)
            {
                return;
            }
            finally
            {
                // A stream that only says `retry:` and ends (a server that cannot serve right now) still sets the wait.
                _retry = client?.Retry ?? _retry;
                if (client is not null)
                {
                    await client.DisposeAsync();
                }
            }

            lock (_gate)
            {
                _breaks.Add(Stopwatch.GetTimestamp());
            }

            try
            {
                await Task.Delay(_retry ?? TimeSpan.FromSeconds(3), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ReadAsync(SseClient client, CancellationToken stop)
    {
        while (true)
        {
            var item = await client.NextAsync($"client {index}", Timeout.InfiniteTimeSpan).WaitAsync(stop);
            _retry = client.Retry ?? _retry;
            var now = Stopwatch.GetTimestamp();
            if (item.EventType == "connected")
            {
                // A new stream's 'connected' carries the point it starts after: a browser resumes from there.
                _lastEventId = item.EventId ?? _lastEventId;
                lock (_gate)
                {
                    _connects.Add(now);
                }

                _connected.TrySetResult();
                continue;
            }

            if (item.EventType == "reset")
            {
                lock (_gate)
                {
                    _resets++;
                }

                continue;
            }

            if (item.EventType != "invalidate")
            {
                continue;
            }

            if (item.EventId is { Length: > 0 } id)
            {
                // What a browser resumes from: every id it is given must be above the last one, across reconnects.
                var value = long.Parse(id, System.Globalization.CultureInfo.InvariantCulture);
                lock (_gate)
                {
                    if (value <= _highestId)
                    {
                        _backwards.Add($"{value} after {_highestId}");
                    }

                    _highestId = Math.Max(_highestId, value);
                }
            }

            _lastEventId = item.EventId ?? _lastEventId;
            var tags = item.Data.StartsWith('[') ? JsonSerializer.Deserialize<string[]>(item.Data)! : item.Data.Split(',');
            var keys = tags.Select(KeyOf).OfType<int>().ToArray();
            lock (_gate)
            {
                foreach (var n in keys)
                {
                    _received.TryAdd(n, now);
                }

                // A frame may merge several events (its id is then the last one's); only a frame that carries one
                // event tells which id that event was given.
                // A late event (delivered after newer ones) carries no id at all.
                if (keys.Length == 1 && item.EventId is not null && !(_ids.TryGetValue(keys[0], out var ids) ? ids : _ids[keys[0]] = []).Add(item.EventId))
                {
                    _redeliveries++;
                }
            }

            _progress.Release();
        }
    }

    /// <summary>The event number in a <c>grp-g:n</c> tag.</summary>
    public static int? KeyOf(string tag) =>
        tag.StartsWith("grp-", StringComparison.Ordinal) && int.TryParse(tag.AsSpan(tag.LastIndexOf(':') + 1), out var n) ? n : null;

    /// <summary>Every event id under which event <paramref name="n"/> arrived alone in a frame.</summary>
    public IReadOnlyCollection<string> IdsOf(int n)
    {
        lock (_gate)
        {
            return _ids.TryGetValue(n, out var ids) ? [.. ids] : [];
        }
    }

    /// <summary>When event <paramref name="n"/> first arrived, or null.</summary>
    public long? ReceivedAt(int n)
    {
        lock (_gate)
        {
            return _received.TryGetValue(n, out var at) ? at : null;
        }
    }

    /// <summary>The first time a stream of this client broke after <paramref name="timestamp"/>, or null.</summary>
    public long? FirstBreakAfter(long timestamp)
    {
        lock (_gate)
        {
            return _breaks.Where(t => t >= timestamp).Order().Cast<long?>().FirstOrDefault();
        }
    }

    /// <summary>The first <c>connected</c> after <paramref name="timestamp"/>, or null.</summary>
    public long? FirstConnectAfter(long timestamp)
    {
        lock (_gate)
        {
            return _connects.Where(t => t >= timestamp).Order().Cast<long?>().FirstOrDefault();
        }
    }

    /// <summary>The wanted events among <paramref name="accepted"/> this client has not received.</summary>
    public List<int> Missing(IEnumerable<int> accepted)
    {
        lock (_gate)
        {
            return [.. accepted.Where(n => wants(n) && !_received.ContainsKey(n)).Order()];
        }
    }

    public bool Wants(int n) => wants(n);

    /// <summary>Waits (on arrivals, not time) until this client holds every wanted event of <paramref name="accepted"/>.</summary>
    public async Task<bool> WaitForAllAsync(IReadOnlyCollection<int> accepted, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (Missing(accepted).Count > 0)
        {
            var remaining = timeout - deadline.Elapsed;
            if (remaining <= TimeSpan.Zero || !await _progress.WaitAsync(remaining))
            {
                return false;
            }
        }

        return true;
    }
}
