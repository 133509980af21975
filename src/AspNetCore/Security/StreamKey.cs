using System.Security.Cryptography;
using System.Text;

namespace CountCachula.AspNetCore.Security;

/// <summary>
/// The per-stream secret that binds interest changes to the stream's own page: 256 random bits, sent once in the
/// <c>connected</c> event (which only that page reads) and presented back as the <c>X-Stream-Key</c> header. A
/// connection id alone is not enough: ids appear in URLs and logs, keys never do.
/// </summary>
internal static class StreamKey
{
    /// <summary>The header an interest change carries the key in.</summary>
    public const string Header = "X-Stream-Key";

    /// <summary>A fresh key, URL-safe base64.</summary>
    public static string Create() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>True when <paramref name="presented"/> is <paramref name="expected"/>, compared in constant time.</summary>
    public static bool Matches(string expected, string presented) =>
        expected.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(presented));
}
