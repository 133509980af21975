using CountCachula.AspNetCore.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// The frontend's OpenTelemetry set-up: which meters are collected, how the process names itself, where metrics go
/// (always <c>/metrics</c>; OTLP when configured), and whether traces are recorded and pushed over OTLP.
/// </summary>
public static class CountCachulaTelemetry
{
    /// <summary>
    /// The meters an operator needs besides <c>countcachula</c>. ASP.NET Core, Kestrel and the runtime publish these
    /// themselves since .NET 8/9, so no instrumentation package is needed; Orleans publishes <c>Microsoft.Orleans</c>.
    /// </summary>
    public static readonly IReadOnlyList<string> PlatformMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics",
        "Microsoft.AspNetCore.Authentication",
        "Microsoft.AspNetCore.Authorization",
        "System.Runtime",
        "Microsoft.Orleans",
    ];

    /// <summary>
    /// The activity sources traced when tracing is on: Count Cachula's publish and dispatch spans, and ASP.NET Core's
    /// request spans (ASP.NET Core's own source, no instrumentation package), of which an HTTP publish's span is a child.
    /// </summary>
    public static readonly IReadOnlyList<string> TracedSources = [CacheTracing.SourceName, "Microsoft.AspNetCore"];

    /// <summary>
    /// Registers metrics collection with the Prometheus exporter and, when an OTLP endpoint is configured, the OTLP
    /// exporter; and tracing with the OTLP exporter when <see cref="TelemetryOptions.Tracing"/> says so. Returns the
    /// builder so more can be added to the same pipeline.
    /// </summary>
    public static OpenTelemetryBuilder AddCountCachulaTelemetry(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        (OtlpExportProtocol Protocol, Uri Endpoint)? otlp = string.IsNullOrWhiteSpace(options.OtlpEndpoint) ? null : OtlpTarget(options.OtlpEndpoint, options.OtlpProtocol, "v1/metrics");
        var otlpFromEnvironment = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .AddService(options.ServiceName, autoGenerateServiceInstanceId: false)
                .AddDetector(services => new SiloResourceDetector(services.GetService<ILocalSiloDetails>())))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(CountCachulaMetrics.MeterName).AddMeter([.. PlatformMeters]).AddPrometheusExporter();
                if (otlp is var (protocol, endpoint))
                {
                    metrics.AddOtlpExporter(exporter =>
                    {
                        exporter.Protocol = protocol;
                        exporter.Endpoint = endpoint;
                    });
                }
                else if (otlpFromEnvironment)
                {
                    metrics.AddOtlpExporter();
                }
            });

        // Off unless asked for, or unless an OTLP endpoint is configured (someone collects): with nothing listening,
        // a publish and a dispatch each cost one listener check.
        if (options.Tracing ?? (otlp is not null || otlpFromEnvironment))
        {
            var traces = string.IsNullOrWhiteSpace(options.OtlpEndpoint) ? ((OtlpExportProtocol, Uri)?)null : OtlpTarget(options.OtlpEndpoint, options.OtlpProtocol, "v1/traces");
            telemetry.WithTracing(tracing =>
            {
                tracing.AddSource([.. TracedSources]);
                if (traces is var (protocol, endpoint))
                {
                    tracing.AddOtlpExporter(exporter =>
                    {
                        exporter.Protocol = protocol;
                        exporter.Endpoint = endpoint;
                    });
                }
                else
                {
                    // The OTEL_EXPORTER_OTLP_* variables, or the exporter's default (a collector on localhost:4317).
                    tracing.AddOtlpExporter();
                }
            });
        }

        return telemetry;
    }

    /// <summary>Checked while the app is built, so a wrong setting stops the start with one line naming it.</summary>
    private static (OtlpExportProtocol Protocol, Uri Endpoint) OtlpTarget(string endpoint, string protocol, string signalPath)
    {
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            throw new InvalidOperationException($"{TelemetryOptions.SectionName}:OtlpEndpoint is '{endpoint}'; use an absolute URL such as http://otel-collector:4317.");
        }

        if (protocol.Equals("grpc", StringComparison.OrdinalIgnoreCase))
        {
            return (OtlpExportProtocol.Grpc, uri);
        }

        if (protocol.Equals("http/protobuf", StringComparison.OrdinalIgnoreCase))
        {
            // A programmatic endpoint is used as given, not extended per signal as OTEL_EXPORTER_OTLP_ENDPOINT is.
            return (OtlpExportProtocol.HttpProtobuf, uri.AbsolutePath is "/" or "" ? new Uri(uri, signalPath) : uri);
        }

        throw new InvalidOperationException($"{TelemetryOptions.SectionName}:OtlpProtocol is '{protocol}'; use 'grpc' or 'http/protobuf'.");
    }

    /// <summary><c>service.instance.id</c> = this silo's address, known once Orleans has its endpoint options.</summary>
    private sealed class SiloResourceDetector(ILocalSiloDetails? silo) : IResourceDetector
    {
        // A client-only web tier (Orleans:Mode=Client) has no silo; its process names the instance instead.
        public Resource Detect() => new([new("service.instance.id", silo?.SiloAddress.ToParsableString() ?? $"client/{Environment.MachineName}/{Environment.ProcessId}")]);
    }
}
