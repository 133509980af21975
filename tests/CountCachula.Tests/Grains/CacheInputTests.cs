namespace CountCachula.Tests.Grains;

public sealed class CacheInputTests
{
    [Fact]
    public void Rejects_values_that_cannot_travel_intact()
    {
        // Built here, not as theory data: xunit's serialization of theory arguments would mend a lone surrogate.
        (string Value, string Expected)[] cases =
        [
            ("\uD800", "lone surrogate"),
            ("ok" + (char)0xDC00, "lone surrogate"),
            ("a" + (char)0xD83D + "b", "lone surrogate"),
            ("a\u0000", "CR, LF or NUL"),
        ];

        foreach (var (value, expected) in cases)
        {
            var error = CacheInput.Check([value], "tags");

            Assert.NotNull(error);
            Assert.Equal("tags[0]", error.Key);
            Assert.Contains(expected, error.Message);
        }
    }

    [Theory]
    [InlineData("user:123")]
    [InlineData("*")]
    [InlineData("posts:*")]
    [InlineData("/api/items?page=2")]
    [InlineData("emoji:\U0001F600")]
    [InlineData("ünïcödé")]
    public void Accepts_ordinary_tags_and_routes(string value) => Assert.Null(CacheInput.Check([value], "tags"));

    [Fact]
    public void Error_messages_show_control_characters_escaped_and_long_values_cut()
    {
        var crlf = CacheInput.Check(["evil\r\nevent: x"], "tags")!;
        var longValue = CacheInput.Check([new string('x', 300)], "tags")!;

        Assert.Contains("\"evil\\r\\nevent: x\"", crlf.Message);
        Assert.DoesNotContain("\n", crlf.Message);
        Assert.Contains("(300 characters)", longValue.Message);
        Assert.True(longValue.Message.Length < 200);
    }

    [Fact]
    public void Distinct_keeps_first_seen_order() =>
        Assert.Equal(["b", "a", "c"], CacheInput.Distinct(["b", "a", "b", "c", "a"]));
}
