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
        (OtlpExportProtocol Protocol, Uri Endpoint)? otlp = string.IsNullOrWhiteSpace(options.OtlpEndpoint) ? null : OtlpTarget(options.OtlpEndpoint, options.OtlpProtocol);
        var otlpFromEnvironment = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        return builder.Services.AddOpenTelemetry()
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
    }

    /// <summary>Checked while the app is built, so a wrong setting stops the start with one line naming it.</summary>
    private static (OtlpExportProtocol Protocol, Uri Endpoint) OtlpTarget(string endpoint, string protocol)
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
            return (OtlpExportProtocol.HttpProtobuf, uri.AbsolutePath is "/" or "" ? new Uri(uri, "v1/metrics") : uri);
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
