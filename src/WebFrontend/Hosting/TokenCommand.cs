using CountCachula.AspNetCore.Security;
namespace CountCachula.WebFrontend.Hosting;

/// <summary>
/// The <c>mint-token</c> command: prints a token the hub accepts, for development and for trying auth out. A token
/// that may subscribe must say what it may listen to: <c>--tags</c> is required unless the token is only for
/// publishing (<c>--publish</c>) or operating (<c>--admin</c>), and <c>--tags "*"</c> is how to grant every tag.
/// </summary>
internal static class TokenCommand
{
    public static int Run(string[] args)
    {
        var configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .Build();
        string? key = configuration["CountCachula:Auth:SigningKey"], tenant = null, tags = null;
        bool publish = false, admin = false;
        var minutes = 60.0;
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--tenant": tenant = Value(); break;
                case "--tags": tags = Value(); break;
                case "--publish": publish = true; break;
                case "--admin": admin = true; break;
                case "--minutes": minutes = double.Parse(Value(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--key": key = Value(); break;
                default:
                    Console.Error.WriteLine($"Unknown option '{args[i]}'. Usage: mint-token --tenant T --tags \"a b:*\"|\"*\" [--publish] [--admin] [--minutes M] [--key K]");
                    return 2;
            }
        }

        if (tenant is null || CacheTenant.Validate(tenant) is not null)
        {
            Console.Error.WriteLine("mint-token needs --tenant with a tenant id (1-64 of A-Z a-z 0-9 - _ .).");
            return 2;
        }

        if (string.IsNullOrEmpty(key) || System.Text.Encoding.UTF8.GetByteCount(key) < 32)
        {
            Console.Error.WriteLine("mint-token needs a signing key of at least 32 bytes: set CountCachula__Auth__SigningKey or pass --key.");
            return 2;
        }

        var patterns = tags?.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries) ?? [];
        if (patterns.Length == 0 && !publish && !admin)
        {
            // Scopes fail closed: a subscriber token without tags may listen to nothing, so minting one is a mistake.
            Console.Error.WriteLine("mint-token needs --tags with the tag patterns the token may listen to (\"*\" for all of the tenant's tags), unless it is a --publish or --admin token.");
            return 2;
        }

        Console.WriteLine(CountCachulaAccess.MintToken(key, tenant, TimeSpan.FromMinutes(minutes), patterns, publish,
            configuration["CountCachula:Auth:Issuer"], configuration["CountCachula:Auth:Audience"], admin));
        return 0;
    }
}
