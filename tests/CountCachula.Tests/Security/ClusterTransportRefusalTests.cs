using CountCachula.Tests.Infrastructure;
using CountCachula.Tests.Product;
using CountCachula.WebFrontend;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CountCachula.Tests.Security;

/// <summary>
/// Outside Development a silo whose endpoints are not on loopback, or a client whose gateways may be anywhere, refuses
/// to start without cluster TLS — in one line naming <c>CountCachula:Cluster:Tls</c>, as a missing signing key is
/// refused — unless <c>CountCachula:Cluster:AllowInsecure</c>. Development and loopback start as before. Each case
/// builds the host and runs its start-up checks only: nothing listens, nothing connects.
/// </summary>
public sealed class ClusterTransportRefusalTests : IDisposable
{
    private const string SigningKey = "cluster-refusal-signing-key-0123456789";
    private readonly TestCertificates _certificates = TestCertificates.Create();

    public void Dispose() => _certificates.Dispose();

    /// <summary>Redis membership: the silo listens on every address (0.0.0.0), as in compose and Kubernetes.</summary>
    private static readonly KeyValuePair<string, string>[] RedisSilo =
    [
        new("Orleans:Membership", "Redis"),
        new("Orleans:Redis", "127.0.0.1:1"),
    ];

    /// <summary>A client web tier whose gateways come from the membership table.</summary>
    private static readonly KeyValuePair<string, string>[] RedisClient =
    [
        new("Orleans:Mode", "Client"),
        new("Orleans:Membership", "Redis"),
        new("Orleans:Redis", "127.0.0.1:1"),
    ];

    [Fact]
    public void A_production_silo_listening_beyond_loopback_without_TLS_is_refused_naming_the_setting()
    {
        var refusal = Assert.Throws<OptionsValidationException>(() => Validate("Production", RedisSilo));

        Assert.StartsWith("CountCachula:Cluster:Tls is required: this silo listens on 0.0.0.0:", refusal.Message);
        Assert.Contains("CountCachula:Cluster:AllowInsecure=true", refusal.Message);
    }

    [Fact]
    public void A_production_client_with_gateways_from_membership_without_TLS_is_refused()
    {
        var refusal = Assert.Throws<OptionsValidationException>(() => Validate("Production", RedisClient));

        Assert.StartsWith("CountCachula:Cluster:Tls is required: this client connects to the gateways its membership table lists", refusal.Message);
    }

    [Fact]
    public void A_production_client_of_a_gateway_beyond_loopback_without_TLS_is_refused()
    {
        // Only built, never started: the address is not contacted.
        var refusal = Assert.Throws<OptionsValidationException>(() =>
            Validate("Production", [new("Orleans:Mode", "Client"), new("Orleans:Gateways", "192.0.2.10:30000")]));

        Assert.StartsWith("CountCachula:Cluster:Tls is required: this client connects to gateways 192.0.2.10:30000", refusal.Message);
    }

    [Fact]
    public void With_TLS_or_AllowInsecure_or_in_Development_or_on_loopback_it_starts()
    {
        Validate("Production", [.. RedisSilo, .. _certificates.NodeSettings()]);
        Validate("Production", [.. RedisClient, .. _certificates.NodeSettings()]);
        Validate("Production", [.. RedisSilo, new("CountCachula:Cluster:AllowInsecure", "true")]);
        Validate("Production", [.. RedisClient, new("CountCachula:Cluster:AllowInsecure", "true")]);
        Validate("Development", RedisSilo);
        Validate("Development", RedisClient);
        Validate("Production", []);
        Validate("Production", [new("Orleans:Mode", "Client")]);
        Validate("Staging", [new("Orleans:Mode", "Client"), new("Orleans:Gateways", "127.0.0.1:30000")]);
    }

    [Fact]
    public void AllowInsecure_is_logged_as_a_warning()
    {
        var log = new LogCapture();
        Validate("Production", [.. RedisSilo, new("CountCachula:Cluster:AllowInsecure", "true")], log);

        Assert.Contains(log.Messages, m => m.Contains("Cluster transport is neither encrypted nor authenticated", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_problem_of_a_TLS_configuration_is_named_by_its_key()
    {
        var missing = Path.Combine(_certificates.Folder, "missing.pem");
        var refusal = Assert.Throws<OptionsValidationException>(() => Validate("Development", [new("CountCachula:Cluster:Tls:CertificatePath", missing)]));
        Assert.Contains($"CountCachula:Cluster:Tls:CertificatePath: no file at '{missing}'", refusal.Message);
        Assert.Contains("CountCachula:Cluster:Tls:CaCertificatePath is required", refusal.Message);

        // A PEM certificate whose key is elsewhere, not named; a thumbprint that is not one.
        refusal = Assert.Throws<OptionsValidationException>(() => Validate("Production",
        [
            .. RedisSilo,
            new("CountCachula:Cluster:Tls:CertificatePath", _certificates.NodePem),
            new("CountCachula:Cluster:Tls:CaCertificatePath", _certificates.CaPath),
            new("CountCachula:Cluster:Tls:AllowedThumbprints:0", "not-a-thumbprint"),
        ]));
        Assert.Contains("CountCachula:Cluster:Tls:CertificatePath could not be loaded", refusal.Message);
        Assert.Contains("CountCachula:Cluster:Tls:KeyPath", refusal.Message);
        Assert.Contains("CountCachula:Cluster:Tls:AllowedThumbprints:0 must be a SHA-1 or SHA-256 thumbprint", refusal.Message);

        // A CA but no certificate of this process; a PFX with the wrong password.
        refusal = Assert.Throws<OptionsValidationException>(() => Validate("Production", [.. RedisSilo, new("CountCachula:Cluster:Tls:CaCertificatePath", _certificates.CaPath)]));
        Assert.Contains("CountCachula:Cluster:Tls:CertificatePath is required", refusal.Message);
        refusal = Assert.Throws<OptionsValidationException>(() => Validate("Production",
        [
            .. RedisSilo,
            new("CountCachula:Cluster:Tls:CertificatePath", _certificates.NodePfx),
            new("CountCachula:Cluster:Tls:Password", "wrong"),
            new("CountCachula:Cluster:Tls:CaCertificatePath", _certificates.CaPath),
        ]));
        Assert.Contains("CountCachula:Cluster:Tls:CertificatePath could not be loaded", refusal.Message);
    }

    [Fact]
    public async Task The_executable_refuses_in_one_line_naming_the_setting()
    {
        // As docker compose would start it before this change: Redis membership, a signing key, no cluster TLS.
        await using var app = AppProcess.StartExecutable(
            [
                "--environment", "Production", "--urls", "http://127.0.0.1:0",
                "--Orleans:SiloPort", FreePorts.Next().ToString(), "--Orleans:GatewayPort", FreePorts.Next().ToString(),
                "--Orleans:Membership", "Redis", "--Orleans:Redis", "127.0.0.1:1",
            ],
            new Dictionary<string, string> { ["CountCachula__Auth__SigningKey"] = SigningKey });

        Assert.Equal(2, await app.ExitAsync());
        Assert.Equal("", app.Stdout);
        var line = Assert.Single(app.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("CountCachula did not start: CountCachula:Cluster:Tls is required: this silo listens on 0.0.0.0:", line);
    }

    /// <summary>Builds the host as <c>Program.cs</c> does and runs its start-up checks, which throw what would stop it.</summary>
    private static void Validate(string environment, IEnumerable<KeyValuePair<string, string>> settings, LogCapture? log = null)
    {
        var args = new List<string>
        {
            "--environment", environment,
            "--urls", "http://127.0.0.1:0",
            "--Orleans:SiloPort", FreePorts.Next().ToString(),
            "--Orleans:GatewayPort", FreePorts.Next().ToString(),
            "--CountCachula:Auth:SigningKey", SigningKey,
        };
        foreach (var (key, value) in settings)
        {
            args.AddRange(["--" + key, value]);
        }

        var app = FrontendHost.Build([.. args], builder =>
        {
            builder.Logging.ClearProviders();
            if (log is not null)
            {
                builder.Logging.AddProvider(log);
            }
        });
        try
        {
            app.Services.GetRequiredService<IStartupValidator>().Validate();
        }
        finally
        {
            ((IDisposable)app).Dispose();
        }
    }
}
