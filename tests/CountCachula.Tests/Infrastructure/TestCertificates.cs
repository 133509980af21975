using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// Two certificate authorities in a temporary folder, as <c>scripts/cluster-certs.sh</c> makes them with openssl: the
/// cluster's CA (<c>ca.pem</c>) with a node certificate for silos and clients (<c>node.pem</c> + <c>node.key</c>, and the
/// same as <c>node.pfx</c> with <see cref="PfxPassword"/>), and another CA (<c>other-ca.pem</c>) with a certificate of its
/// own (<c>stranger.pem</c> + <c>stranger.key</c>): what a process from another cluster, or an attacker, would hold.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    public const string PfxPassword = "test-pfx-password";

    private TestCertificates(string folder) => Folder = folder;

    public string Folder { get; }

    public string CaPath => Path.Combine(Folder, "ca.pem");

    public string NodePem => Path.Combine(Folder, "node.pem");

    public string NodeKey => Path.Combine(Folder, "node.key");

    public string NodePfx => Path.Combine(Folder, "node.pfx");

    public string OtherCaPath => Path.Combine(Folder, "other-ca.pem");

    public string StrangerPem => Path.Combine(Folder, "stranger.pem");

    public string StrangerKey => Path.Combine(Folder, "stranger.key");

    /// <summary>The node certificate's SHA-1 thumbprint, for pinning.</summary>
    public string NodeThumbprint { get; private set; } = "";

    /// <summary>The stranger's SHA-1 thumbprint.</summary>
    public string StrangerThumbprint { get; private set; } = "";

    public static TestCertificates Create()
    {
        var certificates = new TestCertificates(Directory.CreateTempSubdirectory("countcachula-tls-").FullName);
        using var ca = CreateAuthority("CN=Count Cachula test cluster CA");
        using var other = CreateAuthority("CN=Some other CA");
        File.WriteAllText(certificates.CaPath, ca.ExportCertificatePem());
        File.WriteAllText(certificates.OtherCaPath, other.ExportCertificatePem());

        using var node = Issue(ca, "CN=countcachula-node");
        File.WriteAllText(certificates.NodePem, node.ExportCertificatePem());
        File.WriteAllText(certificates.NodeKey, node.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllBytes(certificates.NodePfx, node.Export(X509ContentType.Pfx, PfxPassword));
        certificates.NodeThumbprint = node.Thumbprint;

        using var stranger = Issue(other, "CN=countcachula-node");
        File.WriteAllText(certificates.StrangerPem, stranger.ExportCertificatePem());
        File.WriteAllText(certificates.StrangerKey, stranger.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        certificates.StrangerThumbprint = stranger.Thumbprint;
        return certificates;
    }

    /// <summary>The configuration of a process of the cluster, under <c>CountCachula:Cluster:Tls</c>, with PEM files.</summary>
    public IEnumerable<KeyValuePair<string, string>> NodeSettings() =>
    [
        new("CountCachula:Cluster:Tls:CertificatePath", NodePem),
        new("CountCachula:Cluster:Tls:KeyPath", NodeKey),
        new("CountCachula:Cluster:Tls:CaCertificatePath", CaPath),
    ];

    private static X509Certificate2 CreateAuthority(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(authority, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
        return issued.CopyWithPrivateKey(key);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // The temp folder is cleaned up with the machine.
        }
    }
}
