namespace CountCachula.Grains;

/// <summary>The stored registrations of a tenant's broadcast grain: who wants every event, who wants the notices.</summary>
[GenerateSerializer]
internal sealed class BroadcastRegistrations
{
    /// <summary>The listeners of <see cref="BroadcastInterest.Everything"/>.</summary>
    [Id(0)] public HashSet<string> Everything { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The listeners of <see cref="BroadcastInterest.Notices"/>.</summary>
    [Id(1)] public HashSet<string> Notices { get; set; } = new(StringComparer.Ordinal);
}
