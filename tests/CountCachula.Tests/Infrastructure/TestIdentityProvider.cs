using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CountCachula.Tests.Infrastructure;

/// <summary>
/// A tiny OpenID Connect provider for tests: real Kestrel on 127.0.0.1 serving
/// <c>/realms/test/.well-known/openid-configuration</c> and the <c>jwks_uri</c> it names, with keys the test switches
/// (a rotation) and tokens it signs with them. Counts the key fetches, so a test can tell when the hub read the keys.
/// </summary>
public sealed class TestIdentityProvider : IAsyncDisposable
{
    private readonly WebApplication _app;
    private volatile TestSigningKey[] _published = [];
    private int _jwksFetches;

    private TestIdentityProvider(WebApplication app, string authority)
    {
        _app = app;
        Authority = authority;
        Issuer = authority;
    }

    /// <summary>The provider's URL, as the hub is configured with it.</summary>
    public string Authority { get; }

    /// <summary>The issuer its discovery document states (and its tokens carry); the authority unless set otherwise.</summary>
    public string Issuer { get; set; }

    /// <summary>When true, the discovery document answers 500 (the provider is down).</summary>
    public bool Failing { get; set; }

    /// <summary>How many times the key set was fetched.</summary>
    public int JwksFetches => Volatile.Read(ref _jwksFetches);

    public static async Task<TestIdentityProvider> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        TestIdentityProvider? provider = null;
        app.MapGet("/realms/test/.well-known/openid-configuration", () => provider!.Failing
            ? Results.StatusCode(StatusCodes.Status500InternalServerError)
            : Results.Json(new Dictionary<string, object>
            {
                ["issuer"] = provider.Issuer,
                ["jwks_uri"] = provider.Authority + "/protocol/openid-connect/certs",
                ["id_token_signing_alg_values_supported"] = new[] { "RS256", "ES256" },
            }));
        app.MapGet("/realms/test/protocol/openid-connect/certs", () =>
        {
            Interlocked.Increment(ref provider!._jwksFetches);
            return Results.Text(JsonSerializer.Serialize(new { keys = provider._published.Select(k => k.PublicJwk()) }), "application/json");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        provider = new TestIdentityProvider(app, address.TrimEnd('/') + "/realms/test");
        return provider;
    }

    /// <summary>Makes <paramref name="keys"/> the provider's whole key set (a rotation, when they replace others).</summary>
    public void Publish(params TestSigningKey[] keys) => _published = keys;

    /// <summary>
    /// A token signed with <paramref name="key"/>: <c>iss</c> is <see cref="Issuer"/> unless <paramref name="issuer"/>
    /// says otherwise, and <paramref name="claims"/> are written as given (a string array becomes a JSON array).
    /// </summary>
    public string Issue(TestSigningKey key, string audience, IDictionary<string, object> claims, TimeSpan? lifetime = null, string? issuer = null)
    {
        var now = DateTime.UtcNow;
        var expires = now + (lifetime ?? TimeSpan.FromMinutes(10));
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience,
            Claims = claims,
            IssuedAt = expires < now ? expires.AddMinutes(-10) : now,
            NotBefore = expires < now ? expires.AddMinutes(-10) : now,
            Expires = expires,
            SigningCredentials = key.Credentials,
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A provider's signing key: RSA (RS256) or ECDSA P-256 (ES256), with its <c>kid</c>.</summary>
public sealed class TestSigningKey
{
    private readonly AsymmetricAlgorithm _key;

    private TestSigningKey(AsymmetricAlgorithm key, SecurityKey securityKey, string algorithm)
    {
        _key = key;
        Credentials = new SigningCredentials(securityKey, algorithm);
    }

    public string Kid => Credentials.Key.KeyId;

    public SigningCredentials Credentials { get; }

    public static TestSigningKey Rsa(string kid)
    {
        var rsa = RSA.Create(2048);
        return new TestSigningKey(rsa, new RsaSecurityKey(rsa) { KeyId = kid }, SecurityAlgorithms.RsaSha256);
    }

    public static TestSigningKey EcdsaP256(string kid)
    {
        var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new TestSigningKey(ecdsa, new ECDsaSecurityKey(ecdsa) { KeyId = kid }, SecurityAlgorithms.EcdsaSha256);
    }

    /// <summary>Another key under the same <c>kid</c>: what a forger without the provider's private key could sign with.</summary>
    public TestSigningKey Impostor() => _key is RSA ? Rsa(Kid) : EcdsaP256(Kid);

    /// <summary>The public half as a JSON Web Key (never the private parameters).</summary>
    public Dictionary<string, string> PublicJwk()
    {
        if (_key is RSA rsa)
        {
            var p = rsa.ExportParameters(includePrivateParameters: false);
            return new() { ["kty"] = "RSA", ["use"] = "sig", ["alg"] = "RS256", ["kid"] = Kid, ["n"] = Base64UrlEncoder.Encode(p.Modulus), ["e"] = Base64UrlEncoder.Encode(p.Exponent) };
        }

        var ec = ((ECDsa)_key).ExportParameters(includePrivateParameters: false);
        return new()
        {
            ["kty"] = "EC", ["use"] = "sig", ["alg"] = "ES256", ["kid"] = Kid, ["crv"] = "P-256",
            ["x"] = Base64UrlEncoder.Encode(ec.Q.X), ["y"] = Base64UrlEncoder.Encode(ec.Q.Y),
        };
    }
}
