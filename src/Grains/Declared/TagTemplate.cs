using System.Globalization;
using System.Text;

namespace CountCachula.Grains.Declared;

/// <summary>One parsed <see cref="InvalidatesCacheTagsAttribute"/> template: literal text and bound placeholders.</summary>
internal sealed class TagTemplate
{
    /// <summary>The placeholder of the grain's primary key.</summary>
    public const string KeyName = "key";

    /// <summary>A part is literal text, or a placeholder: the key (<see cref="Parameter"/> -1) or a parameter's index.</summary>
    private readonly record struct Part(string? Literal, int Parameter);

    private readonly Part[] _parts;

    private TagTemplate(string text, Part[] parts)
    {
        Text = text;
        _parts = parts;
    }

    public string Text { get; }

    /// <summary>Parses <paramref name="text"/> against <paramref name="parameters"/>; null and a reason when it cannot bind.</summary>
    public static TagTemplate? Parse(string? text, IReadOnlyList<string?> parameters, out string? problem)
    {
        problem = null;
        if (string.IsNullOrEmpty(text))
        {
            problem = "the template is empty";
            return null;
        }

        var parts = new List<Part>();
        var literal = new StringBuilder();
        var sample = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '{' && i + 1 < text.Length && text[i + 1] == '{' || c == '}' && i + 1 < text.Length && text[i + 1] == '}')
            {
                literal.Append(c);
                sample.Append(c);
                i++;
                continue;
            }

            if (c == '}')
            {
                problem = $"a '}}' at position {i} closes no placeholder (write '}}}}' for a literal brace)";
                return null;
            }

            if (c != '{')
            {
                literal.Append(c);
                sample.Append(c);
                continue;
            }

            var close = text.IndexOf('}', i + 1);
            if (close < 0)
            {
                problem = $"the '{{' at position {i} is never closed (write '{{{{' for a literal brace)";
                return null;
            }

            var name = text[(i + 1)..close];
            int index;
            if (name == KeyName)
            {
                index = -1;
            }
            else
            {
                index = -2;
                for (var p = 0; p < parameters.Count; p++)
                {
                    if (parameters[p] == name)
                    {
                        index = p;
                        break;
                    }
                }

                if (index == -2)
                {
                    problem = parameters.Count == 0
                        ? $"the placeholder '{{{name}}}' names neither 'key' nor a parameter (the method has none)"
                        : $"the placeholder '{{{name}}}' names neither 'key' nor a parameter (parameters: {string.Join(", ", parameters)})";
                    return null;
                }
            }

            if (literal.Length > 0)
            {
                parts.Add(new(literal.ToString(), 0));
                literal.Clear();
            }

            parts.Add(new(null, index));
            sample.Append('x');
            i = close;
        }

        if (literal.Length > 0)
        {
            parts.Add(new(literal.ToString(), 0));
        }

        // The literal parts with each placeholder as one character: what every bound tag contains at least.
        if (CacheInput.Check([sample.ToString()], "tags") is { } error)
        {
            problem = error.Message.Replace("tags[0] ", "its literal text ", StringComparison.Ordinal);
            return null;
        }

        return new TagTemplate(text, [.. parts]);
    }

    /// <summary>The tag for one call: <paramref name="key"/> and the arguments put in the placeholders.</summary>
    public string Bind(string key, Func<int, object?> argument)
    {
        if (_parts.Length == 1 && _parts[0].Literal is { } only)
        {
            return only;
        }

        var builder = new StringBuilder();
        foreach (var part in _parts)
        {
            builder.Append(part.Literal ?? (part.Parameter < 0 ? key : Format(argument(part.Parameter))));
        }

        return builder.ToString();
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
