using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using CountCachula.Grains;
using CountCachula.WebFrontend.Hosting;
using CountCachula.AspNetCore;

namespace CountCachula.Tests.Product;

/// <summary>
/// <c>docs/configuration.md</c> is made from the options classes themselves: every bindable property, its default as
/// the code sets it and its XML doc. The test regenerates the tables and fails when the file says anything else, so
/// the reference can never drift from the code. <c>COUNTCACHULA_UPDATE_DOCS=1</c> rewrites the file instead.
/// </summary>
public sealed partial class ConfigurationReferenceTests
{
    private const string Begin = "<!-- generated from the options classes by ConfigurationReferenceTests: do not edit by hand -->";
    private const string End = "<!-- end of generated tables -->";

    /// <summary>Each bound section and the class it binds to, in the order the reference lists them.</summary>
    private static readonly (string Section, Type Options, string Title)[] Sections =
    [
        (CountCachulaOptions.SectionName, typeof(CountCachulaOptions), "The web frontend: `CountCachula`"),
        (TelemetryOptions.SectionName, typeof(TelemetryOptions), "Telemetry: `CountCachula:Telemetry`"),
        (CountCachula.WebFrontend.Sample.SamplesOptions.SectionName, typeof(CountCachula.WebFrontend.Sample.SamplesOptions), "The host's sample API and demo page: `CountCachula:Samples`"),
        ("CountCachula:Hub", typeof(CountCachulaSiloOptions), "The hub's grains on each silo: `CountCachula:Hub`"),
        (CountCachulaClusterOptions.SectionName, typeof(CountCachulaClusterOptions), "Cluster transport, on silos and client web tiers: `CountCachula:Cluster`"),
    ];

    [Fact]
    public void The_configuration_reference_is_the_options_classes()
    {
        var path = Path.Combine(AppProcess.RepositoryRoot, "docs", "configuration.md");
        var document = File.ReadAllText(path);
        var begin = document.IndexOf(Begin, StringComparison.Ordinal);
        var end = document.IndexOf(End, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, $"docs/configuration.md has lost its markers ('{Begin}' … '{End}').");

        var expected = Generate();
        var current = document[(begin + Begin.Length)..end];
        if (current == expected)
        {
            return;
        }

        if (Environment.GetEnvironmentVariable("COUNTCACHULA_UPDATE_DOCS") == "1")
        {
            File.WriteAllText(path, string.Concat(document.AsSpan(0, begin + Begin.Length), expected, document.AsSpan(end)));
            return;
        }

        var firstDifference = current.Zip(expected).TakeWhile(pair => pair.First == pair.Second).Count();
        var line = expected[..Math.Min(firstDifference, expected.Length)].Count(c => c == '\n');
        Assert.Fail(
            $"docs/configuration.md no longer matches the options classes (first difference in generated line {line + 1}: " +
            $"'{ExpectedLine(expected, line)}'). Run: COUNTCACHULA_UPDATE_DOCS=1 dotnet test tests/CountCachula.Tests " +
            "--filter ConfigurationReference, and commit the file.");
    }

    [Fact]
    public void Every_key_the_host_reads_itself_is_documented()
    {
        // The host reads the Orleans section key by key rather than through an options class.
        var host = string.Concat(Directory.GetFiles(Path.Combine(AppProcess.RepositoryRoot, "src", "WebFrontend"), "FrontendHost*.cs").Select(File.ReadAllText));
        var document = File.ReadAllText(Path.Combine(AppProcess.RepositoryRoot, "docs", "configuration.md"));
        var keys = OrleansKey().Matches(host).Select(m => "Orleans:" + m.Groups["key"].Value)
            .Concat(FullKey().Matches(host).Select(m => m.Groups["key"].Value))
            .Distinct().ToArray();
        Assert.NotEmpty(keys);
        var missing = keys.Where(k => !document.Contains($"`{k}`", StringComparison.Ordinal) && !document.Contains($"`{k}:*`", StringComparison.Ordinal)).ToArray();
        Assert.True(missing.Length == 0, $"FrontendHost reads {string.Join(", ", missing)}, which docs/configuration.md does not list.");
    }

    private static string ExpectedLine(string text, int line) => text.Split('\n').ElementAtOrDefault(line) ?? "";

    private static string Generate()
    {
        var builder = new StringBuilder("\n");
        foreach (var (section, type, title) in Sections)
        {
            builder.Append("\n### ").Append(title).Append("\n\n| Key | Default | Meaning |\n|---|---|---|\n");
            foreach (var (key, value, doc) in Rows(section, type))
            {
                builder.Append("| `").Append(key).Append("` | ").Append(value).Append(" | ").Append(doc).Append(" |\n");
            }
        }

        return builder.Append('\n').ToString();
    }

    private static IEnumerable<(string Key, string Default, string Doc)> Rows(string prefix, Type type)
    {
        var defaults = Activator.CreateInstance(type)!;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true))
        {
            var key = $"{prefix}:{property.Name}";
            var propertyType = property.PropertyType;
            var value = property.GetValue(defaults);
            if (IsOptionsClass(propertyType))
            {
                foreach (var row in Rows(key, propertyType))
                {
                    yield return row;
                }

                continue;
            }

            if (ElementOf(propertyType) is { } element && IsOptionsClass(element))
            {
                foreach (var row in Rows(key + ":{i}", element))
                {
                    yield return row with { Default = "(none)" };
                }

                continue;
            }

            var suffix = IsDictionary(propertyType) ? ":{name}" : ElementOf(propertyType) is not null ? ":{i}" : "";
            yield return (key + suffix, Format(value), Doc(property));
        }
    }

    private static bool IsOptionsClass(Type type) =>
        type.IsClass && type != typeof(string) && type.Namespace?.StartsWith("CountCachula", StringComparison.Ordinal) == true
        && !typeof(IEnumerable).IsAssignableFrom(type);

    private static bool IsDictionary(Type type) => type.GetInterfaces().Append(type).Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));

    private static Type? ElementOf(Type type)
    {
        if (type == typeof(string) || IsDictionary(type))
        {
            return null;
        }

        return type.IsArray ? type.GetElementType()
            : type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
    }

    private static string Format(object? value) => value switch
    {
        null => "(none)",
        string { Length: 0 } => "(empty)",
        string text => $"`{text}`",
        bool flag => flag ? "`true`" : "`false`",
        TimeSpan span => $"`{span.ToString("c", CultureInfo.InvariantCulture)}`",
        IFormattable number when value.GetType().IsPrimitive => $"`{number.ToString(null, CultureInfo.InvariantCulture)}`",
        Enum => $"`{value}`",
        IEnumerable items when !items.Cast<object>().Any() => "(empty)",
        IEnumerable items => string.Join(", ", items.Cast<object>().Select(i => $"`{i}`")),
        _ => $"`{value}`",
    };

    private static readonly Dictionary<Assembly, XDocument?> s_docs = [];

    private static string Doc(PropertyInfo property)
    {
        var assembly = property.DeclaringType!.Assembly;
        if (!s_docs.TryGetValue(assembly, out var xml))
        {
            var file = Path.ChangeExtension(assembly.Location, ".xml");
            s_docs[assembly] = xml = File.Exists(file) ? XDocument.Load(file) : null;
        }

        var name = $"P:{property.DeclaringType!.FullName!.Replace('+', '.')}.{property.Name}";
        var summary = xml?.Descendants("member").FirstOrDefault(m => (string?)m.Attribute("name") == name)?.Element("summary");
        Assert.True(summary is not null, $"{name} has no XML doc summary; the configuration reference needs one.");
        var text = new StringBuilder();
        foreach (var node in summary.Nodes())
        {
            text.Append(node switch
            {
                XText plain => plain.Value,
                XElement { Name.LocalName: "c" } code => $"`{code.Value}`",
                XElement { Name.LocalName: "see" } see when see.Attribute("langword") is { } word => $"`{word.Value}`",
                XElement { Name.LocalName: "see" or "seealso" } see => $"`{((string?)see.Attribute("cref"))?.Split('.').Last()}`",
                XElement { Name.LocalName: "paramref" or "typeparamref" } reference => $"`{(string?)reference.Attribute("name")}`",
                XElement other => other.Value,
                _ => "",
            });
        }

        return Whitespace().Replace(text.ToString(), " ").Trim().Replace("|", "\\|", StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    // orleans.GetValue("Key", ...), orleans.GetValue<int?>("Key"), orleans["Key"], orleans.GetSection("Key").
    [GeneratedRegex(@"orleans(?:\.GetValue(?:<[^>]+>)?\(|\.GetSection\(|\[)""(?<key>[A-Za-z]+)""")]
    private static partial Regex OrleansKey();

    // configuration.GetValue("Orleans:Mode", ...), builder.Configuration.GetValue("Kestrel:InlineScheduling", ...).
    [GeneratedRegex(@"\.GetValue(?:<[^>]+>)?\(""(?<key>[A-Za-z]+:[A-Za-z:]+)""")]
    private static partial Regex FullKey();
}
