using CountCachula.WebFrontend.Streaming;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// The frontend's OpenTelemetry set-up: which meters are collected, how the process names itself, and where metrics
/// go (always <c>/metrics</c>; OTLP when configured).
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
    /// Registers metrics collection with the Prometheus exporter and, when an OTLP endpoint is configured, the OTLP
    /// exporter. Returns the builder so tracing can be added to the same pipeline.
    /// </summary>
    public static OpenTelemetryBuilder AddCountCachulaTelemetry(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        var otlpEndpoint = options.OtlpEndpoint;
        var otlpFromEnvironment = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        return builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .AddService(options.ServiceName, autoGenerateServiceInstanceId: false)
                .AddDetector(services => new SiloResourceDetector(services.GetRequiredService<ILocalSiloDetails>())))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(CountCachulaMetrics.MeterName).AddMeter([.. PlatformMeters]).AddPrometheusExporter();
                if (!string.IsNullOrWhiteSpace(otlpEndpoint))
                {
                    metrics.AddOtlpExporter(otlp => ConfigureOtlp(otlp, otlpEndpoint, options.OtlpProtocol));
                }
                else if (otlpFromEnvironment)
                {
                    metrics.AddOtlpExporter();
                }
            });
    }

    private static void ConfigureOtlp(OtlpExporterOptions otlp, string endpoint, string protocol)
    {
        var uri = new Uri(endpoint);
        if (protocol.Equals("http/protobuf", StringComparison.OrdinalIgnoreCase))
        {
            otlp.Protocol = OtlpExportProtocol.HttpProtobuf;

            // A programmatic endpoint is used as given, not extended per signal as the OTEL_* variable is.
            otlp.Endpoint = uri.AbsolutePath is "/" or "" ? new Uri(uri, "v1/metrics") : uri;
        }
        else if (protocol.Equals("grpc", StringComparison.OrdinalIgnoreCase))
        {
            otlp.Protocol = OtlpExportProtocol.Grpc;
            otlp.Endpoint = uri;
        }
        else
        {
            throw new InvalidOperationException($"{TelemetryOptions.SectionName}:OtlpProtocol is '{protocol}'; use 'grpc' or 'http/protobuf'.");
        }
    }

    /// <summary><c>service.instance.id</c> = this silo's address, known once Orleans has its endpoint options.</summary>
    private sealed class SiloResourceDetector(ILocalSiloDetails silo) : IResourceDetector
    {
        public Resource Detect() => new([new("service.instance.id", silo.SiloAddress.ToParsableString())]);
    }
}
