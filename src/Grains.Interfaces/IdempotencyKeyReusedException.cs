namespace CountCachula;

/// <summary>
/// An idempotency key came back with a different publication (another kind, other tags, routes, scope or data) than
/// the one it was first accepted with. Nothing was published: a retry must repeat its request exactly, and a new
/// event needs a new key. Over HTTP it is a 422.
/// </summary>
[GenerateSerializer]
public sealed class IdempotencyKeyReusedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public IdempotencyKeyReusedException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public IdempotencyKeyReusedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public IdempotencyKeyReusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
