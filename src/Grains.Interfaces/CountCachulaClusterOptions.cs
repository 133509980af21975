namespace CountCachula;

/// <summary>
/// How the processes of a hub cluster talk to each other (silo to silo, client to gateway), bound from the
/// <c>CountCachula:Cluster</c> section by <c>ISiloBuilder.AddCountCachula()</c> and <c>IClientBuilder.AddCountCachula()</c>.
/// </summary>
/// <remarks>
/// Outside the Development environment a silo whose silo or gateway endpoint is not on loopback, or a client whose
/// gateways are not all on loopback, refuses to start unless <see cref="Tls"/> is configured or
/// <see cref="AllowInsecure"/> is set: without TLS, anyone who reaches those ports can join the cluster or call its
/// grains as a client, for any tenant. See <c>docs/security.md</c>, "Cluster transport security (mTLS)".
/// </remarks>
public sealed class CountCachulaClusterOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "CountCachula:Cluster";

    /// <summary>
    /// Mutual TLS on every silo-to-silo and client-to-gateway connection: this process's certificate and the
    /// certificate authority (or pinned thumbprints) every peer's certificate must match.
    /// </summary>
    public ClusterTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// Lets a silo or client start outside Development without TLS although its endpoints (or its gateways) are not on
    /// loopback. Only for a network that itself keeps everyone but the cluster's own processes away from the silo and
    /// gateway ports: anyone who reaches them can call any grain, for any tenant. Logged as a warning at start.
    /// </summary>
    public bool AllowInsecure { get; set; }
}

/// <summary>
/// Mutual TLS between the processes of a hub cluster (<c>CountCachula:Cluster:Tls</c>). Each process presents one
/// certificate, from files (<see cref="CertificatePath"/>) or from a certificate store (<see cref="Thumbprint"/> or
/// <see cref="Subject"/>), and accepts a peer only when the peer's certificate chains to
/// <see cref="CaCertificatePath"/> or is one of <see cref="AllowedThumbprints"/>. Silos require a certificate from
/// every connecting silo and client; clients check the gateway's certificate the same way.
/// </summary>
/// <remarks>
/// Host names are not checked (silos are reached by IP address): a certificate's only meaning is "issued by the
/// cluster's CA", so that CA must issue certificates for this cluster and nothing else.
/// </remarks>
public sealed class ClusterTlsOptions
{
    /// <summary>
    /// This process's certificate: a PKCS#12 file (<c>.pfx</c>, <c>.p12</c>; <see cref="Password"/> opens it) or a PEM
    /// file (its key in the same file or in <see cref="KeyPath"/>). A silo's certificate must allow both server and
    /// client authentication (extended key usages serverAuth and clientAuth, or none), as a silo is both to its peers.
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/>, when the key is not in that file.</summary>
    public string? KeyPath { get; set; }

    /// <summary>The password of a PKCS#12 <see cref="CertificatePath"/>, or of an encrypted PEM key.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// The thumbprint (SHA-1, hex) of this process's certificate in the store named by <see cref="StoreName"/> and
    /// <see cref="StoreLocation"/>; instead of <see cref="CertificatePath"/>. The certificate needs its private key.
    /// </summary>
    public string? Thumbprint { get; set; }

    /// <summary>
    /// The subject name of this process's certificate in the store (the newest valid one with a private key is
    /// taken); instead of <see cref="CertificatePath"/> or <see cref="Thumbprint"/>.
    /// </summary>
    public string? Subject { get; set; }

    /// <summary>The certificate store searched for <see cref="Thumbprint"/> or <see cref="Subject"/>: a <c>StoreName</c> such as <c>My</c>.</summary>
    public string StoreName { get; set; } = "My";

    /// <summary>Where that store is: <c>CurrentUser</c> or <c>LocalMachine</c> (on Linux only <c>CurrentUser</c> has a <c>My</c> store).</summary>
    public string StoreLocation { get; set; } = "CurrentUser";

    /// <summary>
    /// The certificate authority of the cluster (PEM, one or more certificates, or DER): a peer is accepted when its
    /// certificate chains to one of them and is within its validity dates. Use a CA that issues for this cluster only.
    /// </summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>
    /// Peer certificates accepted by thumbprint (SHA-1 or SHA-256, hex; colons and spaces ignored), with or without
    /// <see cref="CaCertificatePath"/>: a peer is accepted when it chains to the CA or is pinned here.
    /// </summary>
    public string[] AllowedThumbprints { get; set; } = [];

    /// <summary>Whether anything here names a certificate of this process: TLS is then on.</summary>
    internal bool IsConfigured =>
        !string.IsNullOrWhiteSpace(CertificatePath) || !string.IsNullOrWhiteSpace(Thumbprint) || !string.IsNullOrWhiteSpace(Subject)
        || !string.IsNullOrWhiteSpace(CaCertificatePath) || AllowedThumbprints.Length > 0;
}
