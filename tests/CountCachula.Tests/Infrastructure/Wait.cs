using CountCachula.AspNetCore.Delivery;

namespace CountCachula.Tests.Infrastructure;

/// <summary>Waits on the registry's change signal instead of sleeping.</summary>
public static class Wait
{
    internal static async Task UntilAsync(this ConnectionRegistry registry, Func<ConnectionRegistry, bool> condition, string phase, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeouts.Default);
        while (true)
        {
            var changed = registry.WhenChanged();
            if (condition(registry))
            {
                return;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"{phase}: the condition did not hold within {timeout ?? Timeouts.Default} (registry count {registry.Count}).");
            }
        }
    }
}
