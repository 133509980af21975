namespace CountCachula.Grains;

/// <summary>Keeps the latest figures of each silo in memory; a silo that stops reporting drops out.</summary>
// Orleans.Dashboard already owns the grain type name "dashboard".
[GrainType("countcachula-dashboard")]
internal sealed class DashboardGrain : Grain, IDashboardGrain
{
    private static readonly TimeSpan Stale = TimeSpan.FromSeconds(10);
    private readonly Dictionary<string, SiloSnapshot> _silos = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public Task Report(SiloSnapshot snapshot)
    {
        _silos[snapshot.Silo] = snapshot;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<SiloSnapshot>> Silos()
    {
        var cutoff = DateTime.UtcNow - Stale;
        foreach (var stale in _silos.Where(pair => pair.Value.TakenAtUtc < cutoff).Select(pair => pair.Key).ToList())
        {
            _silos.Remove(stale);
        }

        return Task.FromResult<IReadOnlyList<SiloSnapshot>>([.. _silos.Values.OrderBy(s => s.Silo, StringComparer.Ordinal)]);
    }
}
