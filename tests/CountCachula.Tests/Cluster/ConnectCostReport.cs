using System.Diagnostics;
using CountCachula.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CountCachula.Tests.Cluster;

/// <summary>
/// Reports (asserts no timing) how long a stream with 1,000 new exact tags takes to open on a three-silo cluster:
/// the request until its <c>connected</c> event. Run: <c>dotnet test --filter ConnectCostReport --logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class ConnectCostReport(ThreeSiloFixture cluster, ITestOutputHelper output) : IClassFixture<ThreeSiloFixture>
{
    [Fact]
    public async Task A_thousand_tag_stream_opens()
    {
        var timings = new List<double>();
        foreach (var prefix in new[] { "a", "b", "c", "d", "e" })
        {
            // Short tags, so a thousand fit in one request line.
            var query = "/api/cache-events?tags=" + string.Join(',', Enumerable.Range(0, 1000).Select(i => prefix + i));
            var watch = Stopwatch.StartNew();
            var (stream, _) = await SseClient.ConnectAndWaitAsync(cluster.Silos[1].Http, query);
            timings.Add(watch.Elapsed.TotalMilliseconds);
            await stream.DisposeAsync();
        }

        output.WriteLine($"1,000-tag stream open (ms), five runs: {string.Join(", ", timings.Select(t => t.ToString("F0")))}");
        Assert.Equal(5, timings.Count);
    }
}
