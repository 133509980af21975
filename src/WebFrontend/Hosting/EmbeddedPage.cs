namespace CountCachula.WebFrontend.Hosting;

/// <summary>A page embedded in the assembly (so it is served wherever the app runs from), read once.</summary>
internal sealed class EmbeddedPage(string fileName)
{
    private readonly Lazy<byte[]> _bytes = new(() =>
    {
        using var stream = typeof(EmbeddedPage).Assembly.GetManifestResourceStream("CountCachula.Pages." + fileName)
            ?? throw new InvalidOperationException($"The page {fileName} is not embedded in the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>The page as an HTML response.</summary>
    public IResult Result() => Results.Bytes(_bytes.Value, "text/html; charset=utf-8");
}
