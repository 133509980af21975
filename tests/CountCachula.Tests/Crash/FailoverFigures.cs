using System.Diagnostics;

namespace CountCachula.Tests.Crash;

/// <summary>Percentiles of a set of durations (nearest rank); a missing value counts as infinitely late.</summary>
public sealed record Spread(int Count, TimeSpan P50, TimeSpan P99, TimeSpan Max)
{
    public static Spread Of(IEnumerable<TimeSpan?> values)
    {
        var sorted = values.Select(v => v ?? TimeSpan.MaxValue).Order().ToArray();
        TimeSpan At(double p) => sorted.Length == 0 ? TimeSpan.Zero : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new Spread(sorted.Length, At(0.50), At(0.99), At(1.0));
    }

    public override string ToString() => $"p50 {Format(P50)} / p99 {Format(P99)} / max {Format(Max)} (n={Count})";

    private static string Format(TimeSpan value) => value == TimeSpan.MaxValue ? "never" : $"{value.TotalSeconds:0.00} s";
}

/// <summary>
/// What a failover run measured. A client is affected when its stream broke after the kill (it was on the dead
/// silo). It has reconnected at its first <c>connected</c> after that break, and caught up once it also holds every
/// event it wants that was accepted (answered 202) by then — the events it missed while it was away.
/// </summary>
public sealed record FailoverFigures(
    IReadOnlyList<EventSourceReader> Affected,
    Spread Reconnected,
    Spread CaughtUp,
    Spread DeliveryAfterKill,
    IReadOnlyList<string> Lost,
    IReadOnlyList<string> DuplicateKeys,
    IReadOnlyList<string> Refusals,
    int DeliveredDespiteRefusal,
    int Redeliveries,
    int Resets,
    IdempotentPublisher Publisher)
{
    public static FailoverFigures From(IReadOnlyList<EventSourceReader> readers, IdempotentPublisher publisher, long killedAt)
    {
        var accepted = publisher.Accepted;
        var affected = readers.Where(r => r.FirstBreakAfter(killedAt) is not null).ToArray();
        var reconnected = new List<TimeSpan?>();
        var caughtUp = new List<TimeSpan?>();
        foreach (var reader in affected)
        {
            var back = reader.FirstConnectAfter(reader.FirstBreakAfter(killedAt)!.Value);
            reconnected.Add(back is { } b ? Stopwatch.GetElapsedTime(killedAt, b) : null);
            if (back is not { } at)
            {
                caughtUp.Add(null);
                continue;
            }

            var missed = accepted.Where(a => a.Value <= at && reader.Wants(a.Key)).Select(a => reader.ReceivedAt(a.Key)).ToArray();
            caughtUp.Add(missed.Any(m => m is null) ? null : Stopwatch.GetElapsedTime(killedAt, Math.Max(at, missed.Select(m => m!.Value).DefaultIfEmpty(at).Max())));
        }

        // Publish-to-client latency of the events accepted from 1 s before the kill on (those in flight when it came
        // too), on every client, the survivors' included: a stall there is a stale page as much as a late reconnect.
        var from = killedAt - Stopwatch.Frequency;
        var lags = readers.SelectMany(r => accepted.Where(a => a.Value > from && r.Wants(a.Key))
            .Select(a => r.ReceivedAt(a.Key) is { } got ? Stopwatch.GetElapsedTime(a.Value, Math.Max(got, a.Value)) : (TimeSpan?)null));

        var keys = accepted.Keys.Order().ToArray();
        var lost = readers.Select(r => (r, missing: r.Missing(keys))).Where(x => x.missing.Count > 0)
            .Select(x => $"client {x.r.Index} ({x.r.Url.Query.Split("access_token")[0].TrimEnd('&', '?')}{(x.r.Resets > 0 ? ", told to reset" : "")}) " +
                $"missed {string.Join(',', x.missing.Take(15))}").ToList();
        // A publish accepted twice shows as one event (one key) under two ids; two events under one id would be two
        // activations of the hub issuing the same sequence. Only clients that listen to everything can tell: a frame
        // that merges two events looks like a single event to a client whose interests filter one of them out.
        var everything = readers.Where(r => r.Wants(1) && r.Wants(2) && r.Wants(3)).ToArray();
        var owned = keys.SelectMany(n => everything.SelectMany(r => r.IdsOf(n)).Distinct().Select(id => (n, id))).ToArray();
        var duplicates = owned.GroupBy(x => x.n).Where(g => g.Count() > 1).Select(g => $"event {g.Key} as ids {string.Join(',', g.Select(x => x.id))}")
            .Concat(owned.GroupBy(x => x.id).Where(g => g.Count() > 1).Select(g => $"id {g.Key} for events {string.Join(',', g.Select(x => x.n))}")).ToList();
        var refusals = readers.SelectMany(r => r.Refusals.Select(s => $"client {r.Index}: {s}")).ToList();
        var despite = publisher.Refused.Keys.Count(n => readers.Any(r => r.ReceivedAt(n) is not null));
        return new FailoverFigures(affected, Spread.Of(reconnected), Spread.Of(caughtUp), Spread.Of(lags), lost, duplicates, refusals, despite,
            readers.Sum(r => r.Redeliveries), readers.Sum(r => r.Resets), publisher);
    }

    public IEnumerable<string> Lines()
    {
        yield return $"clients of the dead silo: {Affected.Count}";
        yield return $"kill -> reconnected (connected on a survivor): {Reconnected}";
        yield return $"kill -> reconnected and caught up (every event missed received): {CaughtUp}";
        yield return $"202 -> client latency of events accepted from 1 s before the kill on (all clients): {DeliveryAfterKill}";
        yield return $"accepted: {Publisher.Accepted.Count}, lost: {Lost.Count} clients missing events, " +
            $"duplicate accepted publishes: {DuplicateKeys.Count}, redelivered under the same id: {Redeliveries}, resets: {Resets}";
        yield return $"publisher: longest stall between two 202s {Publisher.LongestGap.TotalSeconds:0.00} s; retried " +
            $"{(Publisher.Retried.Count == 0 ? "nothing" : string.Join(", ", Publisher.Retried.Select(r => $"{r.Key} x{r.Value}")))}; " +
            $"refused {Publisher.Refused.Count} ({string.Join(", ", Publisher.Refused.GroupBy(r => r.Value).Select(g => $"{g.Key} x{g.Count()}"))}), " +
            $"of which delivered anyway {DeliveredDespiteRefusal}";
        yield return $"stream connects answered non-200: {Refusals.Count}" +
            (Refusals.Count == 0 ? "" : $" ({string.Join(", ", Refusals.GroupBy(r => r[(r.IndexOf(':') + 2)..]).Select(g => $"{g.Key} x{g.Count()}"))})");
    }
}
