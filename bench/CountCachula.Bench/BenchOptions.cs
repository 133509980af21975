using System.Globalization;

namespace CountCachula.Bench;

/// <summary>What one benchmark run does; every field has a command-line flag of the same name.</summary>
internal sealed record BenchOptions
{
    public int Connections { get; init; } = 100;
    public int Events { get; init; } = 1000;
    public double Rate { get; init; } = 100;

    /// <summary>Invalidations published before measuring, so JIT tiering and grain activation are not measured.</summary>
    public int Warmup { get; init; } = 1000;

    /// <summary>How many silos (hub processes) to start and spread connections and publishes over.</summary>
    public int Silos { get; init; } = 1;

    /// <summary>
    /// When positive, each connection listens to one exact tag <c>bench-t{g}</c> of this many, and event k invalidates
    /// tag <c>bench-t{k mod groups}</c>; when zero every connection listens to everything.
    /// </summary>
    public int Groups { get; init; }

    /// <summary>With <see cref="Groups"/>: give each silo's connections only the groups g with g mod silos = silo.</summary>
    public bool Partition { get; init; }

    /// <summary>An already running hub to measure; when null the tool starts the frontend as a child process.</summary>
    public Uri? Url { get; init; }

    /// <summary>How long to wait after the last publish for deliveries still in flight.</summary>
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Extra configuration for the child server, e.g. <c>--server-arg Orleans:Streams:StreamPollInterval=00:00:00.010</c>.</summary>
    public IReadOnlyList<string> ServerArgs { get; init; } = [];

    /// <summary>
    /// Which hub to measure: ours, the specification's literal baseline, both in one run ("compare"), the bare C server
    /// ("floor"), or the floor and ours in one run ("compare-floor").
    /// </summary>
    public string Hub { get; init; } = "countcachula";

    /// <summary>Percentage of connections that stop reading right after <c>connected</c> (slow clients).</summary>
    public double SlowPercent { get; init; }

    /// <summary>Pad each published tag to about this many bytes (bigger events fill a slow client's buffers sooner).</summary>
    public int TagBytes { get; init; }

    /// <summary>Tags of the stream a churn client keeps opening while events are measured (0: no churn).</summary>
    public int ChurnTags { get; init; }

    /// <summary>Seconds to hold the connections idle after connecting, measuring the server's idle CPU.</summary>
    public double Hold { get; init; }

    /// <summary>
    /// With <see cref="Hold"/>: seconds to wait after warm-up before the idle CPU is measured, so JIT tiering (and the
    /// tier-1 promotion of what only timers call) is not counted as idle cost.
    /// </summary>
    public double Settle { get; init; } = 30;

    /// <summary>Stop measuring this many seconds after publishing starts, whatever is still in flight (0 = no limit).</summary>
    public double MaxSeconds { get; init; }

    /// <summary>Print the child server's output (for diagnosing a run).</summary>
    public bool Verbose { get; init; }

    /// <summary>
    /// A reconnection storm (<see cref="StormRun"/>): <see cref="Connections"/> streams dialled at once, as when a silo
    /// dies and its clients come back together, instead of the load run.
    /// </summary>
    public bool Storm { get; init; }

    /// <summary>
    /// When positive, <see cref="TenantsRun"/>: this many tenants of <see cref="Connections"/> streams each, for the idle
    /// cost of a tenant and delivery that stays inside each tenant, instead of the load run.
    /// </summary>
    public int Tenants { get; init; }

    /// <summary>
    /// When positive, <see cref="NonReadingRun"/>: this many streams that never read while big custom events are
    /// published, for the memory the hub holds for them, instead of the load run.
    /// </summary>
    public int NonReading { get; init; }

    /// <summary>With <see cref="NonReading"/>: the data of each custom event, in bytes (line breaks unless <see cref="EventText"/>).</summary>
    public int EventBytes { get; init; } = 64 * 1024;

    /// <summary>With <see cref="NonReading"/>: the data is one line of text rather than all line breaks.</summary>
    public bool EventText { get; init; }

    /// <summary>With <see cref="NonReading"/>: seconds the events are published for.</summary>
    public double Duration { get; init; } = 30;

    /// <summary>With <see cref="NonReading"/>: seconds the hub's RSS is watched after the attack ends.</summary>
    public double After { get; init; } = 60;

    /// <summary>With <see cref="NonReading"/>: the run fails when the peak RSS over idle passes this.</summary>
    public long PeakLimitBytes { get; init; } = 300L * 1024 * 1024;

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        var serverArgs = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            options = args[i] switch
            {
                "--connections" or "-n" => options with { Connections = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--events" or "-e" => options with { Events = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--rate" or "-r" => options with { Rate = double.Parse(Value(), CultureInfo.InvariantCulture) },
                "--silos" => options with { Silos = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--groups" => options with { Groups = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--partition" => options with { Partition = true },
                "--warmup" => options with { Warmup = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--url" => options with { Url = new Uri(Value()) },
                "--drain" => options with { Drain = TimeSpan.FromSeconds(double.Parse(Value(), CultureInfo.InvariantCulture)) },
                "--server-arg" => AddServerArg(options, serverArgs, Value()),
                "--hub" => options with { Hub = Value() },
                "--slow-percent" => options with { SlowPercent = double.Parse(Value(), CultureInfo.InvariantCulture) },
                "--tag-bytes" => options with { TagBytes = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--churn-tags" => options with { ChurnTags = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--hold" => options with { Hold = double.Parse(Value(), CultureInfo.InvariantCulture) },
                "--settle" => options with { Settle = double.Parse(Value(), CultureInfo.InvariantCulture) },
                "--max-seconds" => options with { MaxSeconds = double.Parse(Value(), CultureInfo.InvariantCulture) },
                "--verbose" => options with { Verbose = true },
                "--storm" => options with { Storm = true },
                "--tenants" => options with { Tenants = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--non-reading" => options with { NonReading = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--event-bytes" => options with { EventBytes = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--event-text" => options with { EventText = true },
                "--duration" => options with { Duration = double.Parse(Value(), CultureInfo.InvariantCulture) },
                "--after" => options with { After = double.Parse(Value(), CultureInfo.InvariantCulture) },
                "--peak-limit-mb" => options with { PeakLimitBytes = long.Parse(Value(), CultureInfo.InvariantCulture) * 1024 * 1024 },
                "--help" or "-h" => throw new HelpRequestedException(),
                _ => throw new ArgumentException($"Unknown option '{args[i]}'."),
            };
        }

        if (options.Connections < 0 || options.Events < 0 || options.Rate <= 0 || options.Warmup < 0 || options.Silos < 1 || options.Groups < 0 || options.Settle < 0)
        {
            throw new ArgumentException("--connections, --events and --rate must be positive.");
        }

        if (options.NonReading != 0)
        {
            if (options.NonReading < 0 || options.EventBytes < 0 || options.Duration <= 0 || options.After < 0 || options.Storm || options.Tenants != 0 || options.Url is not null || options.Silos > 1 || options.Hub != "countcachula")
            {
                throw new ArgumentException("--non-reading N (N >= 1) starts one hub of its own, with --event-bytes >= 0, --duration > 0 and --after >= 0; not with --storm, --tenants, --url, --silos or another --hub.");
            }

            return options with { ServerArgs = serverArgs, Settle = args.Contains("--settle") ? options.Settle : 10 };
        }

        if (options.Storm || options.Tenants != 0)
        {
            return CheckMode(options, args) with { ServerArgs = serverArgs };
        }

        if ((options.Connections == 0 || options.Events == 0) && (options.Hold <= 0 || options.Hub != "countcachula"))
        {
            // Nothing to deliver: only an idle measurement (of a started hub) makes sense then.
            throw new ArgumentException("--connections 0 and --events 0 need --hold (an idle measurement) and --hub countcachula.");
        }

        if (options.Partition && (options.Groups < options.Silos || options.Groups % options.Silos != 0))
        {
            throw new ArgumentException("--partition needs --groups to be a positive multiple of --silos.");
        }

        if (options.Hub is not ("countcachula" or "baseline" or "compare" or "floor" or "compare-floor"))
        {
            throw new ArgumentException("--hub is countcachula, baseline, compare, floor or compare-floor.");
        }

        if (options.Hub != "countcachula" && (options.Silos > 1 || options.Groups > 0 || options.Url is not null))
        {
            throw new ArgumentException("--hub baseline/compare/floor/compare-floor measures one started process with every connection listening to everything.");
        }

        if (options.SlowPercent is < 0 or >= 100)
        {
            throw new ArgumentException("--slow-percent is between 0 and 100.");
        }

        if (options.ChurnTags != 0 && (options.ChurnTags is < 2 or > 1000 || options.Hub != "countcachula"))
        {
            throw new ArgumentException("--churn-tags is 2-1000 (a stream holds at most 1,000 interests), with --hub countcachula.");
        }

        if (options.Url is not null && options.Silos > 1)
        {
            throw new ArgumentException("--url measures one running hub; --silos starts its own.");
        }

        return options with { ServerArgs = serverArgs };
    }

    /// <summary>The checks and defaults of <c>--storm</c> and <c>--tenants</c>, which measure one started hub at a time.</summary>
    private static BenchOptions CheckMode(BenchOptions options, string[] args)
    {
        // Flags are matched as given; a --server-arg value always holds '=', so it never looks like one.
        bool Given(params string[] names) => args.Any(names.Contains);
        var mode = options.Storm ? "--storm" : "--tenants";
        if (options.Storm && options.Tenants != 0)
        {
            throw new ArgumentException("--storm and --tenants are separate runs: give one.");
        }

        if (options.Connections < 1 || options.Tenants < 0)
        {
            throw new ArgumentException($"{mode} needs --connections of at least 1{(options.Storm ? "" : " and --tenants of at least 1")}.");
        }

        BenchServers.EnsureOpenFiles(options.Storm ? options.Connections : (long)options.Tenants * options.Connections);
        if (options.Silos > 1 || options.Groups > 0 || options.Partition || options.Url is not null || options.SlowPercent > 0 ||
            options.TagBytes > 0 || options.ChurnTags > 0 || options.MaxSeconds > 0)
        {
            throw new ArgumentException($"{mode} starts one process of its own and does not take --silos, --groups, --partition, --url, --slow-percent, --tag-bytes, --churn-tags or --max-seconds.");
        }

        if (options.Storm)
        {
            if (options.Hub is not ("countcachula" or "floor" or "compare-floor"))
            {
                throw new ArgumentException("--storm measures --hub countcachula, floor or compare-floor.");
            }

            if (Given("--events", "-e", "--rate", "-r", "--warmup", "--hold", "--drain"))
            {
                throw new ArgumentException("--storm publishes no measured events and has its own warm-up: --events, --rate, --warmup, --hold and --drain do not apply (--settle does).");
            }

            return options;
        }

        if (options.Hub is not ("countcachula" or "compare-floor"))
        {
            throw new ArgumentException("--tenants measures --hub countcachula (compare-floor runs only it: the floor has no tenants).");
        }

        // The delivery part is asked for by naming --events; the load run's default of 1,000 does not start it. The idle
        // part always runs, over 10 s when --hold is not given.
        return options with { Events = Given("--events", "-e") ? options.Events : 0, Hold = options.Hold > 0 ? options.Hold : 10 };
    }

    private static BenchOptions AddServerArg(BenchOptions options, List<string> serverArgs, string keyValue)
    {
        var separator = keyValue.IndexOf('=');
        if (separator <= 0)
        {
            throw new ArgumentException($"--server-arg takes Key=Value, got '{keyValue}'.");
        }

        serverArgs.Add("--" + keyValue[..separator]);
        serverArgs.Add(keyValue[(separator + 1)..]);
        return options;
    }

    public const string Usage = """
        Count Cachula fan-out benchmark: opens N real SSE connections over loopback, publishes E invalidations at R per
        second through POST /api/cache/invalidate (tag "bench-<k>"), and measures what every connection received.

          dotnet run -c Release --project bench/CountCachula.Bench -- [options]

          --connections, -n N   SSE connections to hold open (default 100)
          --events, -e E        invalidations to publish (default 1000)
          --rate, -r R          invalidations per second (default 100)
          --warmup W            unmeasured invalidations published first (default 1000)
          --silos S             start S hub processes as one cluster; spread connections and publishes (default 1)
          --groups G            each connection listens to one exact tag of G; event k invalidates tag k mod G
          --partition           with --groups: silo s holds only the groups g with g mod S = s
          --url URL             measure a hub that is already running instead of starting one
          --drain S             seconds to wait for stragglers after the last publish (default 10)
          --server-arg K=V      configuration for the started hub (repeatable)
          --hub H               countcachula (default), baseline (the specification's CacheHub written literally), or
                                compare: baseline then countcachula with the same load, and the ratio of deliveries/s,
                                floor: the bare single-threaded C epoll server (bench/floor/floor-hub.c, built with
                                cc -O2 at run time; skipped when there is no cc), or
                                compare-floor: floor then countcachula with the same load, p50/p99 side by side
          --slow-percent P      P% of connections stop reading after 'connected'; figures are for the others
          --tag-bytes B         pad each published tag to about B bytes (default: no padding)
          --churn-tags N        while measuring, open (and close) a stream with N new exact tags once a second (2-1000):
                                the events' latency is a bystander's, churn_open_* how long such a stream takes to open
          --hold S              after warm-up and --settle, hold the connections idle S seconds and print the hub's CPU
                                (utime+stime from /proc/<pid>/stat) as "% of one core"; works with --connections 0,
                                and with --events 0 the run ends there
          --settle S            with --hold or --tenants: seconds to wait after warm-up before measuring idle; with
                                --storm: seconds the opened streams sit idle before the RSS is read (default 30)
          --max-seconds S       stop measuring S seconds after publishing starts (compare gives the baseline E/R + 10)
          --verbose             show the started hub's output
          --storm               a reconnection storm instead of the load run: after a warm-up (1,000 streams opened and
                                closed twice, 100 events published to each lot), dial all N (--connections) streams at
                                once, no batches, and print storm_connect_s (first dial until every stream has its response
                                head and 'connected'; those not there within 120 s are failed), the server's CPU seconds
                                over that time, its RSS before the dial and --settle seconds after (streams open and idle),
                                and rss_per_stream_bytes = (rss_open - rss_before) / streams open. --hub countcachula
                                (default), floor, or compare-floor (floor then countcachula, side by side). Also
                                stream_p50_s (the median stream's open time) and listen_overflows (connects the kernel
                                dropped on a full accept queue during the storm, box-wide; each is retried >= 1 s later).
                                N is bounded by this process's open-file limit (ulimit -n, less ~500)
          --tenants T           T tenants of N (--connections) streams each (?tenant=tenant-<t>), instead of the load run.
                                First a fresh hub with all T x N streams in one tenant, then a fresh hub with T tenants;
                                each, with nothing published yet: idle CPU over --hold (default 10 s here) after --settle,
                                and RSS; then rss_per_idle_tenant_bytes = (rss T tenants - rss 1 tenant) / T. With
                                --events E (and --rate R), the T-tenant hub then gets a warm-up of max(1, W/T)
                                invalidations per tenant and E measured ones, event k to tenant k mod T
                                (POST /api/cache/invalidate?tenant=), each to reach exactly its tenant's N streams: lost,
                                strays (another tenant's event), p50, p99. --hub countcachula (default) or compare-floor
                                (the floor, having no tenants, is not run)
          --non-reading N       N streams that send their request and never read (4 KB receive buffers), instead of the
                                load run: after a warm-up and --settle (default 10 s here), the hub's idle RSS is read;
                                then custom events of --event-bytes B of data (default 65536; all line breaks, the worst
                                case on the wire, or one line of text with --event-text) are published through
                                POST /api/cache/broadcast at --rate R for --duration S seconds (default 30), a witness
                                stream reading everything; then the N sockets close and the RSS is watched --after
                                seconds (default 60). Prints peak_over_idle, rss_after_<after>s_over_idle, when it came
                                back within 50 MB of idle, how many of the N the hub let go (seconds after the first
                                event), and what the witness got. Fails past --peak-limit-mb (default 300) over idle
        """;
}

internal sealed class HelpRequestedException : Exception;
