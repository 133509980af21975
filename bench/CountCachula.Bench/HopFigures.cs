using System.Globalization;
using System.Text;

namespace CountCachula.Bench;

/// <summary>
/// The hub's per-hop latency (<c>countcachula.hop.duration</c>, read from its Prometheus <c>/metrics</c> before and
/// after the measured run): for each hop, the mean and bucket-interpolated p50/p99 of the run's events, so a
/// publish-to-client figure can be explained hop by hop. Hops are reported once per event and frontend, at the
/// event's first write.
/// </summary>
internal sealed class HopFigures
{
    /// <summary>The hops in path order, as the hub labels them.</summary>
    private static readonly string[] s_hops = ["sequence", "record", "route", "stream", "dispatch", "write"];

    // hop → (le → cumulative count), sum, count
    private readonly Dictionary<string, SortedDictionary<double, double>> _buckets = [];
    private readonly Dictionary<string, double> _sums = [];
    private readonly Dictionary<string, double> _counts = [];

    /// <summary>Reads every hub's histogram; null when one of them does not serve it (the floor, the baseline).</summary>
    public static async Task<HopFigures?> ReadAsync(HttpClient http, IEnumerable<Uri> urls)
    {
        var figures = new HopFigures();
        foreach (var url in urls)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(url, "/metrics"));
                if (!response.IsSuccessStatusCode)
                {
                    return null;
                }

                figures.Add(await response.Content.ReadAsStringAsync());
            }
            catch (HttpRequestException)
            {
                return null;
            }
        }

        return figures;
    }

    /// <summary>One line: each hop's mean, p50 and p99 in ms over what happened between <paramref name="before"/> and <paramref name="after"/>.</summary>
    public static string Describe(HopFigures before, HopFigures after)
    {
        var line = new StringBuilder("hops ms (mean/p50/p99):");
        foreach (var hop in s_hops)
        {
            var count = after._counts.GetValueOrDefault(hop) - before._counts.GetValueOrDefault(hop);
            if (count <= 0)
            {
                line.Append(CultureInfo.InvariantCulture, $" {hop}=n/a");
                continue;
            }

            var mean = (after._sums.GetValueOrDefault(hop) - before._sums.GetValueOrDefault(hop)) / count;
            var buckets = after._buckets.GetValueOrDefault(hop) ?? [];
            var earlier = before._buckets.GetValueOrDefault(hop) ?? [];
            var delta = buckets.Select(b => (Bound: b.Key, Cumulative: b.Value - earlier.GetValueOrDefault(b.Key))).ToList();
            line.Append(CultureInfo.InvariantCulture, $" {hop}={F(mean)}/{F(Quantile(delta, count, 0.50))}/{F(Quantile(delta, count, 0.99))}");
        }

        return line.Append(CultureInfo.InvariantCulture, $" (events measured: {after._counts.GetValueOrDefault("write") - before._counts.GetValueOrDefault("write")})").ToString();
    }

    // As Prometheus's histogram_quantile: find the bucket holding the rank, interpolate linearly inside it.
    private static double Quantile(List<(double Bound, double Cumulative)> buckets, double count, double q)
    {
        var rank = q * count;
        double lowerBound = 0, lowerCount = 0;
        foreach (var (bound, cumulative) in buckets)
        {
            if (cumulative >= rank)
            {
                if (double.IsPositiveInfinity(bound))
                {
                    return lowerBound;
                }

                var inBucket = cumulative - lowerCount;
                return inBucket <= 0 ? bound : lowerBound + (bound - lowerBound) * ((rank - lowerCount) / inBucket);
            }

            lowerBound = bound;
            lowerCount = cumulative;
        }

        return lowerBound;
    }

    private static string F(double value) => value.ToString(value < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture);

    private void Add(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("countcachula_hop_duration", StringComparison.Ordinal) || Label(line, "hop") is not { } hop)
            {
                continue;
            }

            var value = double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            var name = line[..line.IndexOf('{')];
            if (name.EndsWith("_bucket", StringComparison.Ordinal) && Label(line, "le") is { } le)
            {
                var bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture);
                var buckets = _buckets.TryGetValue(hop, out var found) ? found : _buckets[hop] = [];
                buckets[bound] = buckets.GetValueOrDefault(bound) + value;
            }
            else if (name.EndsWith("_sum", StringComparison.Ordinal))
            {
                _sums[hop] = _sums.GetValueOrDefault(hop) + value;
            }
            else if (name.EndsWith("_count", StringComparison.Ordinal))
            {
                _counts[hop] = _counts.GetValueOrDefault(hop) + value;
            }
        }
    }

    private static string? Label(string line, string name)
    {
        var start = line.IndexOf(name + "=\"", StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        start += name.Length + 2;
        return line[start..line.IndexOf('"', start)];
    }
}
