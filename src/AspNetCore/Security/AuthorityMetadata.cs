using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// The discovery document and signing keys of one OpenID Connect provider: fetched on first use, again every
/// <see cref="RefreshAfter"/> (in the background, the current keys serving meanwhile), and — awaited by the request that
/// needs it — when a token names a key the hub does not know, at most once per <see cref="KeyRefreshInterval"/>.
/// </summary>
/// <remarks>
/// JwtBearer's own configuration manager also refreshes on an unknown key (<c>RefreshOnIssuerKeyNotFound</c>), but in
/// the background: the request that carried the first token of a new key is refused, and a browser's EventSource does
/// not retry after a 401. It also refreshes for tokens with a wrong issuer or a bad signature, which spends its
/// five-minute refresh allowance on tokens no refresh can help. Here the token scheme asks for a refresh only when the
/// token's <c>kid</c> is missing from the keys (<see cref="EnsureKeyAsync"/>), waits for it, and then validates;
/// <see cref="RequestRefresh"/> (what IdentityModel calls after any failure) does nothing.
/// </remarks>
internal sealed class AuthorityMetadata : BaseConfigurationManager, IConfigurationManager<OpenIdConnectConfiguration>
{
    /// <summary>How often the keys are read again without being asked to (providers publish new keys ahead of use).</summary>
    public static readonly TimeSpan RefreshAfter = TimeSpan.FromHours(1);

    /// <summary>
    /// The least time between two refreshes for unknown keys, so tokens naming made-up keys cannot make the hub fetch the
    /// provider's keys more often than this. The first such refresh is never held back, however recent the last fetch.
    /// </summary>
    public static readonly TimeSpan KeyRefreshInterval = TimeSpan.FromSeconds(30);

    /// <summary>How long after a failed first fetch requests are refused at once instead of trying again.</summary>
    public static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(5);

    private readonly IDocumentRetriever _documents;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _fetch = new(1, 1);
    private volatile Snapshot? _current;
    private DateTimeOffset _lastKeyRefresh = DateTimeOffset.MinValue;
    private DateTimeOffset _retryAt = DateTimeOffset.MinValue;
    private Exception? _lastFailure;
    private int _backgroundRefresh;

    public AuthorityMetadata(string authority, IDocumentRetriever documents, ILogger logger, TimeProvider? time = null)
    {
        Authority = authority;
        MetadataAddress = authority.TrimEnd('/') + "/.well-known/openid-configuration";
        _documents = documents;
        _logger = logger;
        _time = time ?? TimeProvider.System;

        // A key the provider stopped publishing stops being trusted once the keys are read again.
        UseLastKnownGoodConfiguration = false;
    }

    /// <summary>The provider as configured.</summary>
    public string Authority { get; }

    /// <summary>The issuer its discovery document names, once read.</summary>
    public string? Issuer => _current?.Configuration.Issuer;

    /// <summary>The metadata, read now if it never was; <see cref="AuthorityUnavailableException"/> when it cannot be.</summary>
    public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(CancellationToken cancel)
    {
        if (_current is { } current)
        {
            if (_time.GetUtcNow() >= current.RefreshAt && Interlocked.CompareExchange(ref _backgroundRefresh, 1, 0) == 0)
            {
                _ = Task.Run(RefreshInBackgroundAsync, CancellationToken.None);
            }

            return current.Configuration;
        }

        await _fetch.WaitAsync(cancel);
        try
        {
            if (_current is { } fetched)
            {
                return fetched.Configuration;
            }

            if (_time.GetUtcNow() < _retryAt)
            {
                throw new AuthorityUnavailableException(Authority, _lastFailure);
            }

            return (await FetchAsync()).Configuration;
        }
        catch (Exception exception) when (exception is not AuthorityUnavailableException)
        {
            _lastFailure = exception;
            _retryAt = _time.GetUtcNow() + RetryAfterFailure;
            _logger.LogWarning("Could not read the OpenID Connect metadata of {Authority}: {Reason}", Authority, exception.Message);
            throw new AuthorityUnavailableException(Authority, exception);
        }
        finally
        {
            _fetch.Release();
        }
    }

    /// <summary>
    /// Makes sure the keys include <paramref name="kid"/> if the provider publishes it: reads them again when they do not,
    /// unless a refresh for an unknown key ran less than <see cref="KeyRefreshInterval"/> ago. Requests that arrive
    /// during a refresh wait for that one.
    /// </summary>
    public async Task EnsureKeyAsync(string? kid, CancellationToken cancel)
    {
        var configuration = await GetConfigurationAsync(cancel);
        if (string.IsNullOrEmpty(kid) || HasKey(configuration, kid))
        {
            return;
        }

        await _fetch.WaitAsync(cancel);
        try
        {
            var now = _time.GetUtcNow();
            if (_current is { } current && HasKey(current.Configuration, kid) || now < _lastKeyRefresh + KeyRefreshInterval)
            {
                return;
            }

            _lastKeyRefresh = now;
            var refreshed = await FetchAsync();
            if (!HasKey(refreshed.Configuration, kid))
            {
                _logger.LogDebug("A token names key '{Kid}', which {Authority} does not publish.", kid.Length > 64 ? kid[..64] : kid, Authority);
            }
        }
        catch (Exception exception)
        {
            // The keys held so far stay; the token is judged by them.
            _logger.LogWarning("Could not read the OpenID Connect metadata of {Authority} again: {Reason}", Authority, exception.Message);
        }
        finally
        {
            _fetch.Release();
        }
    }

    /// <inheritdoc />
    public override async Task<BaseConfiguration> GetBaseConfigurationAsync(CancellationToken cancel) => await GetConfigurationAsync(cancel);

    /// <summary>Nothing: keys are read again for unknown <c>kid</c>s only, before validation (see the remarks on the class).</summary>
    public override void RequestRefresh()
    {
    }

    private static bool HasKey(OpenIdConnectConfiguration configuration, string kid) =>
        configuration.SigningKeys.Any(key => string.Equals(key.KeyId, kid, StringComparison.Ordinal));

    /// <summary>Reads the discovery document and its keys; the caller holds <see cref="_fetch"/>.</summary>
    private async Task<Snapshot> FetchAsync()
    {
        // Not the request's token: other requests wait for this fetch too.
        var configuration = await OpenIdConnectConfigurationRetriever.GetAsync(MetadataAddress, _documents, CancellationToken.None);
        if (string.IsNullOrEmpty(configuration.Issuer))
        {
            throw new InvalidOperationException($"{MetadataAddress} names no issuer.");
        }

        if (configuration.SigningKeys.Count == 0)
        {
            _logger.LogWarning("{Authority} publishes no signing keys at {JwksUri}: none of its tokens can be accepted.", Authority, configuration.JwksUri);
        }

        var snapshot = new Snapshot(configuration, _time.GetUtcNow() + RefreshAfter);
        _current = snapshot;
        return snapshot;
    }

    private async Task RefreshInBackgroundAsync()
    {
        await _fetch.WaitAsync();
        try
        {
            await FetchAsync();
        }
        catch (Exception exception)
        {
            // Keep the keys held so far, and try again in a minute rather than on every request.
            _logger.LogWarning("Could not read the OpenID Connect metadata of {Authority} again: {Reason}", Authority, exception.Message);
            if (_current is { } current)
            {
                _current = current with { RefreshAt = _time.GetUtcNow() + TimeSpan.FromMinutes(1) };
            }
        }
        finally
        {
            _fetch.Release();
            Interlocked.Exchange(ref _backgroundRefresh, 0);
        }
    }

    private sealed record Snapshot(OpenIdConnectConfiguration Configuration, DateTimeOffset RefreshAt);
}

/// <summary>The failure of a token whose provider's metadata cannot be read (it is down, or its address is wrong).</summary>
internal sealed class AuthorityUnavailableException(string authority, Exception? inner)
    : Exception($"The OpenID Connect metadata of {authority} could not be read.", inner)
{
    public string Authority { get; } = authority;
}
