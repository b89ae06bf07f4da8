using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Virtio.Scenarios;

/// <summary>Source-generated JSON for the scenarios' own objects: camelCase, no reflection.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ReproJsonLine))]
internal sealed partial class ScenariosJsonContext : JsonSerializerContext
{
    private static ScenariosJsonContext? s_relaxed;

    /// <summary>The context writing '&gt;' and quotes unescaped: the output goes to files and terminals, never into HTML.</summary>
    public static ScenariosJsonContext Relaxed =>
        s_relaxed ??= new(new JsonSerializerOptions(Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
