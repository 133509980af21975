using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace CountCachula.Runtime.Cluster;

/// <summary>
/// The certificate this process presents to its cluster peers and the rule a peer's certificate must meet, loaded once
/// from <see cref="ClusterTlsOptions"/>. Shared by the silo's and the client's TLS set-up (CountCachula.Grains and
/// CountCachula.AspNetCore), which hand it to Orleans' TLS middleware.
/// </summary>
internal sealed partial class ClusterCredentials
{
    private const string Section = CountCachulaClusterOptions.SectionName + ":Tls";
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private readonly X509Certificate2Collection _authorities;
    private readonly HashSet<string> _pins;
    private readonly ILogger? _logger;

    private ClusterCredentials(X509Certificate2 certificate, X509Certificate2Collection authorities, HashSet<string> pins, ILogger? logger)
    {
        Certificate = certificate;
        _authorities = authorities;
        _pins = pins;
        _logger = logger;
    }

    /// <summary>The certificate, with its private key, that this process presents to every peer.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>What a peer's certificate is checked against, for the start-up log.</summary>
    public string TrustDescription =>
        string.Join(" or ", new[]
        {
            _authorities.Count > 0 ? "chained to " + string.Join(", ", _authorities.Select(a => a.Subject)) : null,
            _pins.Count > 0 ? $"one of {_pins.Count} pinned thumbprint(s)" : null,
        }.Where(s => s is not null));

    /// <summary>
    /// Loads the certificate and the trust rule of <paramref name="options"/>; every problem is named by its
    /// configuration key (<c>CountCachula:Cluster:Tls:…</c>), so one start-up message says all that is wrong.
    /// </summary>
    /// <param name="options">What was configured.</param>
    /// <param name="silo">A silo's certificate must allow server and client authentication; a client's, client authentication.</param>
    /// <param name="logger">Where refused peers are reported.</param>
    public static (ClusterCredentials? Credentials, IReadOnlyList<string> Problems) Load(ClusterTlsOptions options, bool silo, ILogger? logger)
    {
        var problems = new List<string>();
        var certificate = LoadOwnCertificate(options, silo, problems);
        var authorities = LoadAuthorities(options, problems);
        var pins = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.AllowedThumbprints.Length; i++)
        {
            var pin = NormalizeThumbprint(options.AllowedThumbprints[i]);
            if (pin.Length is not (40 or 64) || !pin.All(Uri.IsHexDigit))
            {
                problems.Add($"{Section}:AllowedThumbprints:{i} must be a SHA-1 or SHA-256 thumbprint (40 or 64 hex digits)");
            }

            pins.Add(pin);
        }

        if (string.IsNullOrWhiteSpace(options.CaCertificatePath) && pins.Count == 0)
        {
            problems.Add($"{Section}:CaCertificatePath is required: it is what a peer's certificate must chain to (without it, or {Section}:AllowedThumbprints, any certificate would do); set it to the PEM file of the cluster's CA");
        }

        return problems.Count > 0 || certificate is null
            ? (null, problems)
            : (new ClusterCredentials(certificate, authorities, pins, logger), problems);
    }

    /// <summary>
    /// Whether a peer may talk to this process: its certificate chains to one of the configured CA certificates, or is
    /// pinned by thumbprint, and is within its validity dates. Host names are not checked (peers are reached by
    /// address). Given to Orleans as <c>TlsOptions.RemoteCertificateValidation</c>, which replaces the system's check.
    /// </summary>
    public bool IsTrustedPeer(X509Certificate2 certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        string reason;
        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter)
        {
            reason = $"it is valid from {certificate.NotBefore:u} to {certificate.NotAfter:u} only";
        }
        else if (_pins.Count > 0 && (_pins.Contains(certificate.Thumbprint) || _pins.Contains(certificate.GetCertHashString(HashAlgorithmName.SHA256))))
        {
            return true;
        }
        else if (_authorities.Count == 0)
        {
            reason = "its thumbprint is not one of AllowedThumbprints";
        }
        else
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            // Intermediates the peer sent along; only the configured CA certificates are trusted as roots.
            if (presented is not null)
            {
                foreach (var element in presented.ChainElements)
                {
                    if (!element.Certificate.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span))
                    {
                        chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                    }
                }
            }

            if (chain.Build(certificate))
            {
                return true;
            }

            reason = "it does not chain to the cluster's CA (" + string.Join(", ", chain.ChainStatus.Select(s => s.Status).Distinct()) + ")";
        }

        if (_logger is not null)
        {
            LogRefused(_logger, certificate.Subject, certificate.Thumbprint, reason);
        }

        return false;
    }

    private static X509Certificate2? LoadOwnCertificate(ClusterTlsOptions options, bool silo, List<string> problems)
    {
        var fromFile = !string.IsNullOrWhiteSpace(options.CertificatePath);
        var byThumbprint = !string.IsNullOrWhiteSpace(options.Thumbprint);
        var bySubject = !string.IsNullOrWhiteSpace(options.Subject);
        if ((fromFile ? 1 : 0) + (byThumbprint ? 1 : 0) + (bySubject ? 1 : 0) > 1)
        {
            problems.Add($"{Section}:CertificatePath, {Section}:Thumbprint and {Section}:Subject are alternatives: set one");
            return null;
        }

        if (!fromFile && !byThumbprint && !bySubject)
        {
            problems.Add($"{Section}:CertificatePath is required: TLS is configured but names no certificate for this process; set CertificatePath (a PFX or PEM file), or Thumbprint or Subject (from a certificate store)");
            return null;
        }

        var key = fromFile ? $"{Section}:CertificatePath" : byThumbprint ? $"{Section}:Thumbprint" : $"{Section}:Subject";
        X509Certificate2? certificate;
        try
        {
            certificate = fromFile ? LoadFile(options, problems) : LoadFromStore(options, byThumbprint, problems);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            var hint = e is UnauthorizedAccessException
                ? $" (the process runs as user {Environment.UserName}, which must be able to read the certificate and its key)"
                : fromFile && string.IsNullOrWhiteSpace(options.KeyPath) && e is CryptographicException && IsPem(options.CertificatePath!)
                    ? $" (a PEM certificate needs its private key in the same file or in {Section}:KeyPath)"
                    : "";
            problems.Add($"{key} could not be loaded: {e.Message.TrimEnd('.')}{hint}");
            return null;
        }

        if (certificate is null)
        {
            return null;
        }

        if (!certificate.HasPrivateKey)
        {
            problems.Add($"{key} names a certificate without its private key ({certificate.Subject})");
        }

        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter)
        {
            problems.Add($"{key} names a certificate valid from {certificate.NotBefore:u} to {certificate.NotAfter:u} only ({certificate.Subject})");
        }

        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SelectMany(e => e.EnhancedKeyUsages.Cast<Oid>()).Select(o => o.Value).ToArray();
        if (usages.Length > 0 && (!usages.Contains(ClientAuthentication) || (silo && !usages.Contains(ServerAuthentication))))
        {
            problems.Add(silo
                ? $"{key} names a certificate that does not allow both server and client authentication (extended key usages serverAuth and clientAuth): a silo is both to its peers"
                : $"{key} names a certificate that does not allow client authentication (extended key usage clientAuth)");
        }

        return certificate;
    }

    private static X509Certificate2? LoadFile(ClusterTlsOptions options, List<string> problems)
    {
        var path = options.CertificatePath!;
        if (!File.Exists(path))
        {
            problems.Add($"{Section}:CertificatePath: no file at '{Path.GetFullPath(path)}'");
            return null;
        }

        if (!IsPem(path))
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, options.Password);
        }

        var keyPath = string.IsNullOrWhiteSpace(options.KeyPath) ? null : options.KeyPath;
        if (keyPath is not null && !File.Exists(keyPath))
        {
            problems.Add($"{Section}:KeyPath: no file at '{Path.GetFullPath(keyPath)}'");
            return null;
        }

        var certificate = string.IsNullOrEmpty(options.Password)
            ? X509Certificate2.CreateFromPemFile(path, keyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(path, options.Password, keyPath);
        if (OperatingSystem.IsWindows())
        {
            // SChannel cannot use the ephemeral key of a PEM import; a PKCS#12 round trip gives it a usable one.
            using var pem = certificate;
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
        }

        return certificate;
    }

    private static X509Certificate2? LoadFromStore(ClusterTlsOptions options, bool byThumbprint, List<string> problems)
    {
        if (!Enum.TryParse<StoreName>(options.StoreName, ignoreCase: true, out var storeName))
        {
            problems.Add($"{Section}:StoreName must be a store name such as My or Root (got '{options.StoreName}')");
            return null;
        }

        if (!Enum.TryParse<StoreLocation>(options.StoreLocation, ignoreCase: true, out var location))
        {
            problems.Add($"{Section}:StoreLocation must be CurrentUser or LocalMachine (got '{options.StoreLocation}')");
            return null;
        }

        using var store = new X509Store(storeName, location);
        store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
        var found = byThumbprint
            ? store.Certificates.Find(X509FindType.FindByThumbprint, NormalizeThumbprint(options.Thumbprint!), validOnly: false)
            : store.Certificates.Find(X509FindType.FindBySubjectName, options.Subject!, validOnly: false);
        var now = DateTime.Now;
        var chosen = found.Where(c => c.HasPrivateKey).OrderByDescending(c => c.NotBefore <= now && now <= c.NotAfter).ThenByDescending(c => c.NotAfter).FirstOrDefault()
            ?? found.FirstOrDefault();
        if (chosen is null)
        {
            problems.Add(byThumbprint
                ? $"{Section}:Thumbprint: no certificate with thumbprint {NormalizeThumbprint(options.Thumbprint!)} in {location}/{storeName}"
                : $"{Section}:Subject: no certificate with subject '{options.Subject}' in {location}/{storeName}");
        }

        return chosen;
    }

    private static X509Certificate2Collection LoadAuthorities(ClusterTlsOptions options, List<string> problems)
    {
        var authorities = new X509Certificate2Collection();
        var path = options.CaCertificatePath;
        if (string.IsNullOrWhiteSpace(path))
        {
            return authorities;
        }

        if (!File.Exists(path))
        {
            problems.Add($"{Section}:CaCertificatePath: no file at '{Path.GetFullPath(path)}'");
            return authorities;
        }

        try
        {
            if (IsPem(path))
            {
                authorities.ImportFromPemFile(path);
            }
            else
            {
                authorities.Add(X509CertificateLoader.LoadCertificateFromFile(path));
            }
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            problems.Add($"{Section}:CaCertificatePath could not be loaded: {e.Message.TrimEnd('.')}");
            return authorities;
        }

        if (authorities.Count == 0)
        {
            problems.Add($"{Section}:CaCertificatePath: '{Path.GetFullPath(path)}' holds no certificate");
        }

        return authorities;
    }

    private static bool IsPem(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> start = stackalloc byte[4096];
        var read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        return start[..read].IndexOf("-----BEGIN "u8) >= 0;
    }

    private static string NormalizeThumbprint(string thumbprint) =>
        string.Concat(thumbprint.Where(c => c is not (':' or ' ' or '-'))).Trim().ToUpperInvariant();

    [LoggerMessage(EventId = 2000, Level = LogLevel.Warning, Message =
        "Refused a cluster connection: the peer's certificate {Subject} ({Thumbprint}) is not trusted, as {Reason}.")]
    private static partial void LogRefused(ILogger logger, string subject, string thumbprint, string reason);
}

/// <summary>The rules that decide whether a process of the cluster may run without TLS.</summary>
internal static class ClusterTransportRules
{
    /// <summary>Whether every one of <paramref name="addresses"/> is on loopback (an unspecified address is not).</summary>
    public static bool AllLoopback(IEnumerable<IPAddress> addresses) => addresses.All(IPAddress.IsLoopback);

    /// <summary>
    /// The one-line refusal of a process whose cluster endpoints are reachable from elsewhere without TLS, in the words of
    /// the hub's other start-up refusals: the key that is required, why, and the way out.
    /// </summary>
    /// <param name="exposure">What is exposed, e.g. "this silo listens on 0.0.0.0:11111 (silo) and 0.0.0.0:30000 (gateway)".</param>
    public static string Refusal(string exposure) =>
        $"{CountCachulaClusterOptions.SectionName}:Tls is required: {exposure}, outside Development, so anyone who reaches them could " +
        $"join the cluster or call its grains for any tenant; set {CountCachulaClusterOptions.SectionName}:Tls:CertificatePath and " +
        $"{CountCachulaClusterOptions.SectionName}:Tls:CaCertificatePath (docs/security.md, \"Cluster transport security (mTLS)\"), or set " +
        $"{CountCachulaClusterOptions.SectionName}:AllowInsecure=true if the network itself keeps everyone else out";
}

/// <summary>
/// The credentials of <see cref="CountCachulaClusterOptions.Tls"/>, loaded once per process (the start-up check and the
/// connection set-up both ask for them), for a silo and for a client separately.
/// </summary>
internal sealed class ClusterCredentialsCache(ILoggerFactory loggers)
{
    private readonly Lock _gate = new();
    private readonly (ClusterCredentials? Credentials, IReadOnlyList<string> Problems)?[] _loaded = new (ClusterCredentials?, IReadOnlyList<string>)?[2];

    /// <summary>What <see cref="ClusterCredentials.Load"/> made of <paramref name="options"/> the first time it was asked.</summary>
    public (ClusterCredentials? Credentials, IReadOnlyList<string> Problems) Get(ClusterTlsOptions options, bool silo)
    {
        lock (_gate)
        {
            return _loaded[silo ? 1 : 0] ??= ClusterCredentials.Load(options, silo, loggers.CreateLogger("CountCachula.Cluster"));
        }
    }
}
