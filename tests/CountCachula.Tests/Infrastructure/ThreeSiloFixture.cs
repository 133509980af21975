using Orleans.Runtime;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// A real three-silo cluster in one process: three frontends, each a silo with its own Kestrel on 127.0.0.1, joined
/// by localhost clustering through the first. Ready once every silo sees three active members.
/// </summary>
public sealed class ThreeSiloFixture : IAsyncLifetime
{
    public static readonly TimeSpan UnsubscribeGrace = TimeSpan.FromMilliseconds(200);

    public static readonly TimeSpan InboxCheckInterval = TimeSpan.FromMilliseconds(500);

    public IReadOnlyList<TestFrontend> Silos { get; private set; } = [];

    public async Task InitializeAsync()
    {
        var clusterId = "three-" + Guid.NewGuid().ToString("N")[..8];
        KeyValuePair<string, string>[] settings =
        [
            new("CountCachula:UnsubscribeGrace", UnsubscribeGrace.ToString()),
            new("CountCachula:InboxCheckInterval", InboxCheckInterval.ToString()),
        ];
        var first = await TestFrontend.StartAsync(clusterId, settings: settings);
        var second = await TestFrontend.StartAsync(clusterId, first.SiloPort, settings);
        var third = await TestFrontend.StartAsync(clusterId, first.SiloPort, settings);
        Silos = [first, second, third];
        foreach (var silo in Silos)
        {
            await WaitForMembersAsync(silo, 3);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in Silos.Reverse())
        {
            await silo.DisposeAsync();
        }
    }

    /// <summary>Waits until <paramref name="silo"/> sees <paramref name="count"/> active members.</summary>
    public static async Task WaitForMembersAsync(TestFrontend silo, int count)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var membership = silo.Get<IClusterMembershipService>();
        try
        {
            if (Active(membership.CurrentSnapshot) == count)
            {
                return;
            }

            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cts.Token))
            {
                if (Active(snapshot) == count)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Waiting for the membership: silo {silo.SiloPort} saw {Active(membership.CurrentSnapshot)} of {count} active silos within 60 s.");
        }
    }

    private static int Active(ClusterMembershipSnapshot snapshot) => snapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
}
