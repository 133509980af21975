namespace CountCachula;

/// <summary>
/// The tenant's hub cannot accept events right now (another activation of it owns the sequence, or its storage is
/// unreachable). Nothing was published; retrying shortly is safe and, with an idempotency key, exactly-once.
/// </summary>
[GenerateSerializer]
public sealed class HubUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HubUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public HubUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public HubUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
