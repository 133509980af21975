using CountCachula.AppHost;

// The hub's cluster on one machine, in the Aspire dashboard: Redis, three silos of the host, the host again as a
// client-only web tier, and the publisher sample. Aspire chooses every port; the silos and clients take their cluster
// from the Orleans resource (Orleans:Clustering, Orleans:ClusterId and Orleans:ServiceId in their configuration).
var builder = DistributedApplication.CreateBuilder(args);

var redis = RedisResources.Add(builder, "redis");

var orleans = builder.AddOrleans("hub")
    .WithClusterId("countcachula-aspire")
    .WithServiceId("countcachula")
    .WithClustering(new RedisClustering(redis));

var silos = new List<IResourceBuilder<ProjectResource>>();
for (var i = 1; i <= 3; i++)
{
    var name = $"silo-{i}";
    silos.Add(builder.AddProject<Projects.WebFrontend>(name, launchProfileName: null)
        .WithHttpEndpoint()
        .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Development")
        .WithEnvironment("Orleans__Name", name)
        .WithReference(orleans)
        .WaitFor(redis)
        .WithHttpHealthCheck("/health/ready"));
}

// The host without a silo (Orleans:Mode=Client): it serves the SSE streams from the cluster's gateways.
var web = builder.AddProject<Projects.WebFrontend>("web", launchProfileName: null)
    .WithHttpEndpoint()
    .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Development")
    .WithEnvironment("Orleans__Mode", "Client")
    .WithReference(orleans.AsClient())
    .WithHttpHealthCheck("/health/ready");

// The publisher invalidates one tag and exits: it waits for its Start button in the dashboard (each start is one
// invalidation of orders-list), so a browser or test can subscribe first.
var publisher = builder.AddProject<Projects.Publisher>("publisher")
    .WithArgs("orders-list")
    .WithReference(orleans.AsClient())
    .WithExplicitStart();

foreach (var silo in silos)
{
    web.WaitFor(silo);
    publisher.WaitFor(silo);
}

builder.Build().Run();
