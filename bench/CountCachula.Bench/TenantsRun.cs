using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace CountCachula.Bench;

/// <summary>
/// <c>--tenants T</c>: T tenants of N streams each (<c>?tenant=tenant-&lt;t&gt;</c>; the hub runs with auth off, where the
/// query parameter names the tenant). What an idle tenant costs is the T-tenant hub's RSS less that of a hub holding
/// the same T × N streams in one tenant, over T; each is a fresh process, measured the same way, so neither inherits the
/// other's heap. Nothing is published before that measurement, in either run: an idle tenant is one whose streams are
/// open and that has not published (a publish activates the tenant's hub grain and starts its history, which is the cost
/// of an active tenant), and one tenant could not be given a warm-up comparable to T tenants' anyway. With
/// <c>--events</c>, the T-tenant hub then gets a warm-up round over the tenants and the measured invalidations, round
/// robin, each to reach its own tenant's N streams and no other.
/// </summary>
internal static class TenantsRun
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        // Parse has checked that this process may hold them all (and so that the product fits).
        var streams = options.Tenants * options.Connections;
        if (options.Hub == "compare-floor")
        {
            Console.WriteLine("hub=floor tenants: not run, the floor has no tenants (countcachula only)");
        }

        // One tenant holds every stream in the reference run: the per-tenant limit (20,000 by default) must not refuse
        // them there, and both runs get the same settings. A --server-arg given still wins, being later.
        options = options with { Hub = "countcachula", ServerArgs = ["--CountCachula:MaxConnectionsPerTenant", "0", .. options.ServerArgs] };
        var single = (await BenchServers.RunAsync(options, servers => MeasureAsync(options, servers[0], 1, streams, referenceRss: null)))!;
        var multi = (await BenchServers.RunAsync(options, servers => MeasureAsync(options, servers[0], options.Tenants, options.Connections, single.ResidentBytes)))!;
        return Math.Max(single.ExitCode, multi.ExitCode);
    }

    private static string TenantName(int tenant) => "tenant-" + tenant.ToString(CultureInfo.InvariantCulture);

    private static async Task<TenantsResult> MeasureAsync(BenchOptions options, ServerProcess server, int tenants, int perTenant, long? referenceRss)
    {
        var endpoint = new IPEndPoint(IPAddress.Parse(server.Url.Host), server.Url.Port);
        var total = tenants * perTenant;

        // Only the T-tenant run publishes measured events; the reference is there for its idle RSS.
        var events = referenceRss is null ? 0 : options.Events;

        // Stream i belongs to tenant i / N, its ledger group: event k is tenant k mod T's, so the ledger expects each
        // stream to get exactly its tenant's events and counts any other tenant's as a stray.
        var ledger = new DeliveryLedger(total, events, tenants);
        var connections = new SseLoadConnection[total];
        for (var i = 0; i < total; i++)
        {
            ledger.AssignGroup(i, i / perTenant, 0);
            connections[i] = new SseLoadConnection(i, ledger);
        }

        using var stop = new CancellationTokenSource();
        var connectClock = Stopwatch.StartNew();
        for (var first = 0; first < total; first += 200)
        {
            // 200 at a time, as the load run opens them: this run is about holding tenants, not about opening them.
            var batch = Enumerable.Range(first, Math.Min(200, total - first)).Select(i =>
            {
                var path = "/api/cache-events?tenant=" + TenantName(i / perTenant);
                _ = Task.Run(() => connections[i].RunAsync(endpoint, path, stop.Token));
                return connections[i].Connected;
            }).ToArray();
            await Task.WhenAll(batch).WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        var connectSeconds = connectClock.Elapsed.TotalSeconds;
        var idle = await IdleMeter.MeasureAsync([server], options.Settle, options.Hold);
        var failedIdle = connections.Count(c => !c.Connected.IsCompletedSuccessfully || c.Failed);
        Console.WriteLine(
            $"hub=countcachula tenants={tenants} streams_per_tenant={perTenant} idle_cpu={P(idle.Percent)}% rss_mb={Mb(idle.ResidentBytes)} " +
            $"jit_tiering={P(idle.JitPercent)}% failed_conns={failedIdle} connect_time={F(connectSeconds)}s settle={F(options.Settle)}s measured={F(idle.Seconds)}s");
        if (referenceRss is { } one)
        {
            Console.WriteLine(
                $"hub=countcachula tenants={tenants} streams={total} rss_per_idle_tenant_bytes={((idle.ResidentBytes - one) / (double)tenants).ToString("0", CultureInfo.InvariantCulture)} " +
                $"rss_tenants_mb={Mb(idle.ResidentBytes)} rss_one_tenant_mb={Mb(one)}");
        }

        var exitCode = failedIdle == 0 ? 0 : 1;
        if (events > 0)
        {
            exitCode = Math.Max(exitCode, await DeliverAsync(options, server, tenants, perTenant, ledger, connections));
        }

        await stop.CancelAsync();
        foreach (var connection in connections)
        {
            connection.Dispose();
        }

        return new TenantsResult(exitCode, idle.ResidentBytes);
    }

    /// <summary>Publishes a warm-up round and then the measured events, round robin over the tenants, and prints what reached whom.</summary>
    private static async Task<int> DeliverAsync(BenchOptions options, ServerProcess server, int tenants, int perTenant, DeliveryLedger ledger, SseLoadConnection[] connections)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 });
        using var publisher = new OpenLoopPublisher(http, options.Rate);
        var invalidate = Enumerable.Range(0, tenants).Select(t => new Uri(server.Url, "/api/cache/invalidate?tenant=" + TenantName(t))).ToArray();

        // Every tenant gets at least one warm-up event ("warmup-k", which the ledger does not count): its hub grain and
        // publish path are then running before the measured events take them, as the load run's warm-up does for its one.
        var warmup = options.Warmup == 0 ? 0 : Math.Max(1, options.Warmup / tenants) * tenants;
        if (warmup > 0)
        {
            await Task.WhenAll(await publisher.PublishAsync(warmup, k => invalidate[k % tenants], k => $"warmup-{k}", null));
            await Task.Delay(500);
        }

        var warmupErrors = publisher.Errors;
        var cpuBefore = server.CpuTime();
        var wallBefore = Stopwatch.GetTimestamp();
        await Task.WhenAll(await publisher.PublishAsync(ledger.Events, k => invalidate[k % tenants], k => $"bench-{k}", ledger.MarkSent));

        // Stragglers: wait while deliveries still come in, up to --drain after the last one.
        var expected = ledger.Expected;
        var lastCount = -1L;
        var lastProgress = Stopwatch.StartNew();
        while (ledger.Delivered < expected && lastProgress.Elapsed < options.Drain)
        {
            await Task.Delay(20);
            if (ledger.Delivered != lastCount)
            {
                lastCount = ledger.Delivered;
                lastProgress.Restart();
            }
        }

        var wallSeconds = Stopwatch.GetElapsedTime(wallBefore).TotalSeconds;
        var cpu = server.CpuTime() - cpuBefore;
        var failed = connections.Count(c => !c.Connected.IsCompletedSuccessfully || c.Failed);
        Console.WriteLine(
            $"hub=countcachula tenants={tenants} streams_per_tenant={perTenant} events={ledger.Events} rate={F(options.Rate)}/s expected={expected} " +
            $"delivered={ledger.Delivered} lost={expected - ledger.Delivered} duplicates={ledger.Duplicates} strays={ledger.Strays} failed_conns={failed} " +
            $"publish_errors={publisher.Errors - warmupErrors} p50={F(ledger.Latency.Percentile(50))}ms p99={F(ledger.Latency.Percentile(99))}ms " +
            $"max={F(ledger.Latency.MaxMilliseconds)}ms server_cpu={F(cpu.TotalSeconds / wallSeconds * 100)}% server_rss_mb={Mb(server.ResidentBytes())} warmup_events={warmup}" +
            (warmupErrors > 0 ? $" warmup_publish_errors={warmupErrors}" : ""));
        return ledger.Delivered == expected && ledger.Duplicates == 0 && ledger.Strays == 0 ? 0 : 1;
    }

    private static string F(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);

    private static string P(double value) => value.ToString("0.00", CultureInfo.InvariantCulture);

    private static string Mb(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture);

    private sealed record TenantsResult(int ExitCode, long ResidentBytes);
}
