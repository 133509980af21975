namespace CountCachula.Tests.Infrastructure;

/// <summary>How long a test waits for something that should happen promptly, generous for a loaded 2-core CI box.</summary>
public static class Timeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);
}
