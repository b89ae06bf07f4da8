using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Virtio.Diagnostics;

/// <summary>Source-generated JSON for the types that mirror QMP replies, with their kebab-case names (no reflection, trimming- and AOT-safe).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.KebabCaseLower,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(QueueStatus))]
[JsonSerializable(typeof(QmpReturn<QueueStatus>), TypeInfoPropertyName = "QmpReturnQueueStatus")]
[JsonSerializable(typeof(QueueElementReply))]
[JsonSerializable(typeof(QmpReturn<QueueElementReply>), TypeInfoPropertyName = "QmpReturnQueueElement")]
[JsonSerializable(typeof(VirtioStatus))]
[JsonSerializable(typeof(QmpReturn<VirtioStatus>), TypeInfoPropertyName = "QmpReturnVirtioStatus")]
internal sealed partial class DiagnosticsJsonContext : JsonSerializerContext
{
    private static DiagnosticsJsonContext? s_compact;
    private static DiagnosticsJsonContext? s_indented;

    /// <summary>
    /// The context to write with, compact or indented. Both leave '&gt;' and quotes unescaped: the output goes to files
    /// and terminals, never into HTML, and the findings quote <c>avail-&gt;idx</c> on every line.
    /// </summary>
    public static DiagnosticsJsonContext For(bool indented) =>
        indented
            ? s_indented ??= Create(indented: true)
            : s_compact ??= Create(indented: false);

    private static DiagnosticsJsonContext Create(bool indented) =>
        new(new JsonSerializerOptions(Default.Options) { WriteIndented = indented, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
