namespace CountCachula.WebFrontend.Sample;

/// <summary>Whether this host serves the sample items API and the demo page: <c>CountCachula:Samples</c>.</summary>
public sealed class SamplesOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "CountCachula:Samples";

    /// <summary>
    /// Unset means in Development only. They publish into the default tenant without a credential, so they are never
    /// served elsewhere unless switched on here on purpose.
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>Whether the samples are served in <paramref name="environment"/>: <see cref="Enabled"/>, else in Development only.</summary>
    public bool EnabledIn(IHostEnvironment environment) => Enabled ?? environment.IsDevelopment();
}
