using CountCachula.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Serialization;

namespace CountCachula.Tests.Declared;

public sealed class BadTemplateTests
{
    public interface IBadTemplateGrain : IGrainWithStringKey
    {
        Task Ship(string customerId);

        Task Note(string text);
    }

    [Fact]
    public async Task A_bad_template_fails_the_silo_start_naming_grain_method_and_template()
    {
        var builder = Host.CreateApplicationBuilder(["--environment", "Development"]);
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(FreePorts.Next(), FreePorts.Next(), serviceId: "bad", clusterId: "bad-" + Guid.NewGuid().ToString("N")[..8]);
            silo.AddCountCachula();
            // Only this silo knows the class: the test assembly's generated manifest leaves out private nested classes,
            // so the other tests' silos never see it (an application's grain classes come from that manifest).
            silo.Services.Configure<GrainTypeOptions>(o => o.Classes.Add(typeof(BadTemplateGrain)));
        });
        using var host = builder.Build();

        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        var message = e.ToString();
        Assert.Contains($"{typeof(BadTemplateGrain).FullName}.Ship: [InvalidatesCacheTags(\"order:{{orderId}}\")]", message);
        Assert.Contains("'{orderId}' names neither 'key' nor a parameter (parameters: customerId)", message);
        Assert.Contains($"{typeof(BadTemplateGrain).FullName}.Note: [InvalidatesCacheTags(\"note:{{key}}\\r\\n\")]", message);
        Assert.Contains("CR, LF or NUL", message);
    }

    [Fact]
    public void The_generated_manifest_does_not_carry_the_bad_grain()
    {
        // What keeps the class above out of every other silo of this test assembly.
        var manifest = new ServiceCollection().AddSerializer().BuildServiceProvider()
            .GetRequiredService<Microsoft.Extensions.Options.IOptions<Orleans.Serialization.Configuration.TypeManifestOptions>>().Value;
        Assert.Contains(typeof(DeclaredOrderGrain), manifest.InterfaceImplementations);
        Assert.DoesNotContain(typeof(BadTemplateGrain), manifest.InterfaceImplementations);
    }

    private sealed class BadTemplateGrain : Grain, IBadTemplateGrain
    {
        [InvalidatesCacheTags("order:{orderId}")]
        public Task Ship(string customerId) => Task.CompletedTask;

        [InvalidatesCacheTags("note:{key}\r\n")]
        public Task Note(string text) => Task.CompletedTask;
    }
}
