using System.CodeDom.Compiler;
using System.Collections.Immutable;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace CountCachula.Tests.PublicApi;

/// <summary>
/// What each package may hold. The contracts package (<c>CountCachula.Grains.Interfaces</c>) holds contracts only, so
/// a publisher that references it gets no implementation; and every namespace belongs to one package, so a type's
/// namespace says which package to add.
/// </summary>
public sealed class PackageLayoutTests
{
    /// <summary>
    /// Code that runs inside the application's own grains, which reach the hub through the contracts package alone
    /// (docs/from-a-grain.md): the declared-invalidation scope a grain method adds tags to, and the outbox writer a
    /// grain keeps its state with. They are the contracts package's grain-authoring API, and the only implementation
    /// it may hold.
    /// </summary>
    private static readonly ImmutableHashSet<string> GrainAuthoring =
    [
        "CountCachula.CacheInvalidation",
        "CountCachula.CacheInvalidation+Scope",
        "CountCachula.CacheOutboxWriter`1",
    ];

    /// <summary>Types whose static state is a value: numbers, text, durations, and collections nobody can change.</summary>
    private static readonly Type[] ValueTypesOfConstants =
    [
        typeof(string), typeof(TimeSpan), typeof(Type), typeof(IReadOnlySet<>), typeof(IReadOnlyList<>), typeof(IReadOnlyDictionary<,>),
        typeof(ImmutableArray<>), typeof(System.Collections.Frozen.FrozenSet<>), typeof(System.Collections.Frozen.FrozenDictionary<,>),
        typeof(System.Buffers.SearchValues<>), typeof(Regex),
    ];

    /// <summary>
    /// The rule: every type of the contracts package is an interface (grain interfaces), an enum, an attribute, an
    /// exception, a serialized contract (<c>[GenerateSerializer]</c>: records and data classes that cross the wire) or a
    /// record (a value a contract method returns), an
    /// options class (settable properties and nothing else), or a static class of constants and pure functions (no
    /// static field that can change). A class with behaviour and state of its own, a stream provider, a cache or a
    /// metrics helper, belongs to the package that runs it (<c>CountCachula.Runtime</c> when silos and web servers
    /// both do). The grain-authoring helpers in <see cref="GrainAuthoring"/> are the one exception.
    /// </summary>
    [Fact]
    public void The_contracts_package_holds_contracts_only()
    {
        var offenders = OwnTypes(Assembly.Load("CountCachula.Grains.Interfaces"))
            .Where(t => !GrainAuthoring.Contains(t.FullName!) && Kind(t) is null)
            .Select(t => t.FullName)
            .ToList();

        Assert.True(offenders.Count == 0,
            "CountCachula.Grains.Interfaces holds implementation (move it to the package that runs it, or make it a contract): "
            + string.Join(", ", offenders));
    }

    [Fact]
    public void The_rule_refuses_implementation()
    {
        Assert.Null(Kind(typeof(CountCachula.Runtime.Metrics.TenantLabels)));
        Assert.Null(Kind(typeof(CountCachula.Runtime.Queues.CacheQueueAdapterFactory)));
        Assert.Null(Kind(typeof(MutableStatics)));
        Assert.Equal("static helper", Kind(typeof(CacheTenant)));
        Assert.Equal("grain interface", Kind(typeof(ICacheHubGrain)));
    }

    /// <summary>
    /// Each assembly's namespaces start with its root namespace (its project's <c>RootNamespace</c>) and none lies in a
    /// namespace another package owns: <c>CountCachula.Grains.*</c> is the grains package's, even though it starts with
    /// the contracts package's <c>CountCachula</c>. Extension classes placed beside the framework type they extend
    /// (<c>Microsoft.*</c>, <c>Orleans.*</c>, as ASP.NET Core's and Orleans' own are) are the exception.
    /// </summary>
    [Fact]
    public void Each_assembly_declares_only_its_own_namespaces()
    {
        var projects = Projects();
        var problems = new List<string>();
        foreach (var (assemblyName, root) in projects)
        {
            foreach (var type in OwnTypes(Assembly.Load(assemblyName)).Where(t => !t.IsNested))
            {
                var ns = type.Namespace ?? "";
                if (ns.Length == 0 && type.Name == "Program")
                {
                    continue;
                }

                if (IsFrameworkExtensionClass(type))
                {
                    continue;
                }

                // The package that owns a namespace is the one with the longest root it starts with.
                var owner = projects
                    .Where(p => Within(ns, p.Root))
                    .OrderByDescending(p => p.Root.Length)
                    .Select(p => p.Assembly)
                    .FirstOrDefault();
                if (!Within(ns, root) || owner != assemblyName)
                {
                    problems.Add($"{type.FullName} ({assemblyName}, root namespace {root}){(owner is null ? "" : $" lies in {owner}'s namespace")}");
                }
            }
        }

        Assert.True(problems.Count == 0, "Types outside their assembly's namespace: " + string.Join("; ", problems));
    }

    private static bool Within(string ns, string root) => ns == root || ns.StartsWith(root + ".", StringComparison.Ordinal);

    private static bool IsFrameworkExtensionClass(Type type) =>
        type is { IsAbstract: true, IsSealed: true }
        && (type.Namespace?.StartsWith("Microsoft.", StringComparison.Ordinal) == true || type.Namespace?.StartsWith("Orleans.", StringComparison.Ordinal) == true)
        && type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly).All(m => m.IsDefined(typeof(ExtensionAttribute)));

    /// <summary>What kind of contract <paramref name="type"/> is; null when it is none.</summary>
    private static string? Kind(Type type)
    {
        if (type.IsInterface)
        {
            return "grain interface";
        }

        if (type.IsEnum)
        {
            return "enum";
        }

        if (typeof(Attribute).IsAssignableFrom(type))
        {
            return "attribute";
        }

        if (typeof(Exception).IsAssignableFrom(type))
        {
            return "exception";
        }

        if (type.GetCustomAttributes().Any(a => a.GetType().FullName == "Orleans.GenerateSerializerAttribute"))
        {
            return "serialized contract";
        }

        if (type.GetMethod("<Clone>$") is not null)
        {
            return "record";
        }

        if (type is { IsAbstract: true, IsSealed: true })
        {
            var fields = type.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly);
            return fields.All(f => f.IsLiteral || (f.IsInitOnly && IsValue(f.FieldType))) ? "static helper" : null;
        }

        if (type.Name.EndsWith("Options", StringComparison.Ordinal) && type.GetConstructor(Type.EmptyTypes) is not null
            && type.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
                .All(m => m.IsSpecialName || m.IsDefined(typeof(CompilerGeneratedAttribute))))
        {
            return "options";
        }

        return null;
    }

    private static bool IsValue(Type type) =>
        type.IsPrimitive || type.IsEnum || ValueTypesOfConstants.Contains(type.IsGenericType ? type.GetGenericTypeDefinition() : type);

    /// <summary>The types written in the assembly: not the compiler's, Orleans' or the source generators' own.</summary>
    private static IEnumerable<Type> OwnTypes(Assembly assembly) =>
        assembly.GetTypes().Where(t =>
            !t.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false)
            && !t.IsDefined(typeof(GeneratedCodeAttribute), inherit: false)
            && !t.Name.StartsWith('<')
            && t.Namespace?.StartsWith("OrleansCodeGen", StringComparison.Ordinal) != true
            && t.Namespace?.StartsWith("System.", StringComparison.Ordinal) != true
            && t.Namespace?.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal) != true
            && !(t.IsNested && IsGenerated(t.DeclaringType!)));

    private static bool IsGenerated(Type type) =>
        type.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false) || type.IsDefined(typeof(GeneratedCodeAttribute), inherit: false);

    /// <summary>Each project under src: its assembly name and root namespace, as its project file sets them.</summary>
    private static List<(string Assembly, string Root)> Projects()
    {
        var src = Path.Combine(RepositoryRoot(), "src");
        return [.. Directory.GetFiles(src, "*.csproj", SearchOption.AllDirectories).Select(path =>
        {
            var project = XDocument.Load(path);
            string Property(string name) => project.Descendants(name).Single().Value;
            return (Property("AssemblyName"), Property("RootNamespace"));
        })];
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));

    private static class MutableStatics
    {
        public static readonly List<string> Seen = [];
    }
}
