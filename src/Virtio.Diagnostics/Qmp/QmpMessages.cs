using System.Text.Json.Serialization;

namespace Virtio.Diagnostics.Qmp;

/// <summary>Arguments of <c>human-monitor-command</c>.</summary>
internal sealed record HmpArguments([property: JsonPropertyName("command-line")] string CommandLine);

/// <summary>Arguments naming a virtio device.</summary>
internal sealed record VirtioPathArguments([property: JsonPropertyName("path")] string Path);

/// <summary>Arguments naming one queue of a virtio device.</summary>
internal sealed record VirtioQueueArguments(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("queue")] ushort Queue);

/// <summary>Arguments of <c>x-query-virtio-queue-element</c> with an explicit avail-ring position.</summary>
internal sealed record VirtioElementArguments(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("queue")] ushort Queue,
    [property: JsonPropertyName("index")] ushort Index);

/// <summary>One entry of <c>query-commands</c>.</summary>
internal sealed record QmpCommandInfo([property: JsonPropertyName("name")] string Name);

/// <summary>QEMU's <c>VirtioRingDesc</c> as it sends it.</summary>
internal sealed record QmpRingDesc(
    [property: JsonPropertyName("addr")] ulong Addr,
    [property: JsonPropertyName("len")] uint Len,
    [property: JsonPropertyName("flags")] IReadOnlyList<string> Flags);

/// <summary>QEMU's <c>VirtioQueueElement</c> as it sends it (later QEMUs add fields; they are ignored).</summary>
internal sealed record QmpQueueElement(
    [property: JsonPropertyName("index")] uint Index,
    [property: JsonPropertyName("descs")] IReadOnlyList<QmpRingDesc> Descs);

/// <summary>Source-generated JSON for the QMP messages (no reflection).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.KebabCaseLower, RespectRequiredConstructorParameters = true, RespectNullableAnnotations = true)]
[JsonSerializable(typeof(HmpArguments))]
[JsonSerializable(typeof(VirtioPathArguments))]
[JsonSerializable(typeof(VirtioQueueArguments))]
[JsonSerializable(typeof(VirtioElementArguments))]
[JsonSerializable(typeof(List<QmpCommandInfo>))]
[JsonSerializable(typeof(List<VirtioDeviceInfo>))]
[JsonSerializable(typeof(QemuVirtioStatus))]
[JsonSerializable(typeof(VhostQueueStatus))]
[JsonSerializable(typeof(QmpQueueElement))]
[JsonSerializable(typeof(string))]
internal sealed partial class QmpJsonContext : JsonSerializerContext;
