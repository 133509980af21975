using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization.Invocation;

namespace CountCachula.Grains.Declared;

/// <summary>
/// The declared invalidations of the grain classes Orleans knows (<see cref="GrainTypeOptions.Classes"/>): checked all
/// at once when the silo starts, and looked up per method by the call filter.
/// </summary>
internal sealed class DeclaredInvalidations(IOptions<GrainTypeOptions> grainTypes)
{
    private const BindingFlags Methods = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    private readonly ConcurrentDictionary<(Type Grain, MethodInfo Method), Plan?> _plans = new();

    /// <summary>Every problem of every grain class's declarations, one line each (empty when all bind).</summary>
    public IReadOnlyList<string> Check()
    {
        var problems = new List<string>();
        foreach (var grain in grainTypes.Value.Classes.OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            if (grain.GetCustomAttribute<CacheTenantAttribute>(inherit: true) is { } tenant && CacheTenant.Validate(tenant.Tenant) is { } bad)
            {
                problems.Add($"{Name(grain)}: [CacheTenant(\"{tenant.Tenant}\")]: {bad}");
            }

            for (var type = grain; type is not null && type != typeof(object); type = type.BaseType)
            {
                foreach (var method in type.GetMethods(Methods | BindingFlags.DeclaredOnly))
                {
                    foreach (var declared in method.GetCustomAttributes<InvalidatesCacheTagsAttribute>(inherit: false))
                    {
                        foreach (var template in declared.Templates)
                        {
                            if (TagTemplate.Parse(template, Parameters(method), out var problem) is null)
                            {
                                problems.Add($"{Name(grain)}.{method.Name}: [InvalidatesCacheTags(\"{Show(template)}\")]: {problem}.");
                            }
                        }
                    }
                }
            }
        }

        return problems;
    }

    /// <summary>What a call of <paramref name="method"/> on <paramref name="grain"/> publishes; null when it declares nothing.</summary>
    public Plan? For(Type grain, MethodInfo method) => _plans.GetOrAdd((grain, method), static k => Plan.Create(k.Grain, k.Method));

    private static string[] Parameters(MethodInfo method) => [.. method.GetParameters().Select(p => p.Name ?? "")];

    private static string Name(Type type) => type.FullName ?? type.Name;

    /// <summary>A template as C# source would spell it, so a CR or LF in it shows instead of breaking the message.</summary>
    private static string Show(string? template) => template is null ? "null" : string.Concat(template.Select(c => c switch
    {
        '\r' => "\\r",
        '\n' => "\\n",
        '\0' => "\\0",
        '"' => "\\\"",
        _ when char.IsControl(c) => $"\\u{(int)c:X4}",
        _ => c.ToString(),
    }));

    /// <summary>One method's bound templates, its grain's tenant and how its key reads.</summary>
    internal sealed class Plan
    {
        private readonly TagTemplate[] _templates;
        private readonly KeyKind _keyKind;

        private Plan(string grain, string method, string tenant, TagTemplate[] templates, KeyKind keyKind)
        {
            Grain = grain;
            Method = method;
            Tenant = tenant;
            _templates = templates;
            _keyKind = keyKind;
        }

        private enum KeyKind
        {
            String,
            Integer,
            Guid,
        }

        public string Grain { get; }

        public string Method { get; }

        public string Tenant { get; }

        public static Plan? Create(Type grain, MethodInfo method)
        {
            var declared = method.GetCustomAttributes<InvalidatesCacheTagsAttribute>(inherit: true).ToArray();
            if (declared.Length == 0)
            {
                return null;
            }

            var parameters = Parameters(method);
            var templates = new List<TagTemplate>();
            foreach (var template in declared.SelectMany(d => d.Templates))
            {
                templates.Add(TagTemplate.Parse(template, parameters, out var problem)
                    ?? throw new InvalidOperationException($"{Name(grain)}.{method.Name}: [InvalidatesCacheTags(\"{Show(template)}\")]: {problem}."));
            }

            var keyKind = typeof(IGrainWithIntegerKey).IsAssignableFrom(grain) || typeof(IGrainWithIntegerCompoundKey).IsAssignableFrom(grain) ? KeyKind.Integer
                : typeof(IGrainWithGuidKey).IsAssignableFrom(grain) || typeof(IGrainWithGuidCompoundKey).IsAssignableFrom(grain) ? KeyKind.Guid
                : KeyKind.String;
            var tenant = grain.GetCustomAttribute<CacheTenantAttribute>(inherit: true)?.Tenant ?? CacheTenant.Default;
            return new Plan(Name(grain), method.Name, tenant, [.. templates], keyKind);
        }

        /// <summary>The tags of one successful call: the bound templates, then the added ones, without repeats.</summary>
        public string[] Tags(GrainId grainId, IInvokable request, IReadOnlyList<string> added)
        {
            var tags = new List<string>(_templates.Length + added.Count);
            if (_templates.Length > 0)
            {
                var key = Key(grainId);
                foreach (var template in _templates)
                {
                    tags.Add(template.Bind(key, request.GetArgument));
                }
            }

            tags.AddRange(added);
            return tags.Count == 0 ? [] : CacheInput.Distinct(tags);
        }

        private string Key(GrainId grainId)
        {
            switch (_keyKind)
            {
                case KeyKind.Integer when grainId.TryGetIntegerKey(out var number, out var extension):
                    return extension is null ? number.ToString(CultureInfo.InvariantCulture) : $"{number.ToString(CultureInfo.InvariantCulture)}+{extension}";
                case KeyKind.Guid when grainId.TryGetGuidKey(out var guid, out var extension):
                    return extension is null ? guid.ToString("D") : $"{guid:D}+{extension}";
                default:
                    return grainId.Key.ToString()!;
            }
        }
    }
}
