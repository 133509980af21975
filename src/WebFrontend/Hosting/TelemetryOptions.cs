namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// How the frontend describes itself to metrics and tracing back-ends and where it pushes them, bound from
/// <c>CountCachula:Telemetry</c>. <c>/metrics</c> (Prometheus) is always served; OTLP is pushed only when an endpoint
/// is configured here or in the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, or traces when <see cref="Tracing"/> is on.
/// </summary>
public sealed class TelemetryOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "CountCachula:Telemetry";

    /// <summary>
    /// <c>service.name</c> of every series (Prometheus: <c>target_info{service_name=…}</c>). The silo address is the
    /// <c>service.instance.id</c>, so the silos of one cluster share the name and differ by instance.
    /// </summary>
    public string ServiceName { get; set; } = "countcachula";

    /// <summary>
    /// Where to push metrics over OTLP, e.g. <c>http://otel-collector:4317</c>. Empty (the default) pushes nothing
    /// unless <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, which the exporter then reads with its other <c>OTEL_*</c>
    /// settings.
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>
    /// <c>grpc</c> (the default, usually port 4317) or <c>http/protobuf</c> (usually port 4318; an endpoint without a
    /// path gets <c>/v1/metrics</c> for metrics and <c>/v1/traces</c> for traces).
    /// </summary>
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>
    /// Whether to record traces (a span per publish, one per frontend that dispatched it) and push them over OTLP.
    /// Unset (the default): on exactly when an OTLP endpoint is configured. <c>true</c> without an endpoint pushes to
    /// the <c>OTEL_EXPORTER_OTLP_*</c> settings or the exporter's default, <c>localhost:4317</c>.
    /// </summary>
    public bool? Tracing { get; set; }
}
