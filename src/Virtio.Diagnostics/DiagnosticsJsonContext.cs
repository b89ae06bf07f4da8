using System.Text.Json;
using System.Text.Json.Serialization;

namespace Virtio.Diagnostics;

/// <summary>Source-generated JSON for every diagnostic type (no reflection, trimming- and AOT-safe).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.KebabCaseLower,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(QueueStatus))]
[JsonSerializable(typeof(QmpReturn<QueueStatus>), TypeInfoPropertyName = "QmpReturnQueueStatus")]
[JsonSerializable(typeof(QueueElementReply), GenerationMode = JsonSourceGenerationMode.Serialization)]
[JsonSerializable(typeof(QmpReturn<QueueElementReply>), TypeInfoPropertyName = "QmpReturnQueueElement", GenerationMode = JsonSourceGenerationMode.Serialization)]
[JsonSerializable(typeof(HangReport), GenerationMode = JsonSourceGenerationMode.Serialization)]
internal sealed partial class DiagnosticsJsonContext : JsonSerializerContext
{
    private static DiagnosticsJsonContext? s_indented;

    /// <summary>The default context, or an indented copy.</summary>
    public static DiagnosticsJsonContext For(bool indented) =>
        !indented
            ? Default
            : s_indented ??= new DiagnosticsJsonContext(new JsonSerializerOptions(Default.Options) { WriteIndented = true });
}
