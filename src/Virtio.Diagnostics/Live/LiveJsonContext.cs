using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Virtio.Diagnostics.Qmp;
using Virtio.Rings;

namespace Virtio.Diagnostics.Live;

/// <summary>One reading as JSON: the queue status with QMP's names and the guest's ring fields.</summary>
internal sealed record QueueReadingJson(QueueStatus? QueueStatus, GuestRingFields RingFields);

/// <summary>The JSON object of one queue's diagnosis (<c>virtio diagnose --format json</c>).</summary>
internal sealed record QueueDiagnosisJson(
    string DevicePath,
    string DeviceName,
    int QueueIndex,
    string Role,
    string Verdict,
    string Summary,
    IReadOnlyList<HangFinding> Findings,
    QueueStatus? QueueStatus,
    GuestRingFields RingFields,
    bool? EventIdx,
    string? Error,
    string? Progress,
    double IntervalSeconds,
    IReadOnlyList<QueueReadingJson> Readings,
    IReadOnlyList<QemuQueueElement> InFlightCandidates,
    string? Note,
    string? NextSteps);

/// <summary>
/// Source-generated JSON of this project's own diagnostic objects, the live diagnosis and <see cref="HangReport"/>:
/// camelCase; the queue status and descriptors inside keep QMP's kebab-case names through their own attributes.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(QueueDiagnosisJson))]
[JsonSerializable(typeof(HangReport))]
internal sealed partial class LiveJsonContext : JsonSerializerContext
{
    private static LiveJsonContext? s_compact;
    private static LiveJsonContext? s_indented;

    /// <summary>Compact or indented; '&gt;' is left unescaped (the findings quote <c>avail-&gt;idx</c>).</summary>
    public static LiveJsonContext For(bool indented) =>
        indented
            ? s_indented ??= Create(indented: true)
            : s_compact ??= Create(indented: false);

    private static LiveJsonContext Create(bool indented) =>
        new(new JsonSerializerOptions(Default.Options) { WriteIndented = indented, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
