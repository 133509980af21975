using CountCachula.AspNetCore.Security;
namespace CountCachula.AspNetCore.Endpoints;

/// <summary>The data of the <c>connected</c> event.</summary>
/// <param name="ConnectionId">The connection's id.</param>
/// <param name="Tenant">The tenant the connection belongs to.</param>
/// <param name="Timestamp">When the server accepted the connection.</param>
/// <param name="StreamKey">
/// The stream's own secret: an interest change must send it as <c>X-Stream-Key</c>, so only the page that holds the
/// stream can change what it receives.
/// </param>
internal sealed record ConnectedData(string ConnectionId, string Tenant, DateTimeOffset Timestamp, string StreamKey);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ConnectedData))]
internal sealed partial class ConnectedJson : System.Text.Json.Serialization.JsonSerializerContext;
