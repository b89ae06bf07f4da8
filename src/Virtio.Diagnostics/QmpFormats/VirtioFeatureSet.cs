using System.Text.Json.Serialization;

namespace Virtio.Diagnostics;

/// <summary>A feature word decoded as QMP's <c>VirtioDeviceFeatures</c>: transport bits, device bits, and the rest as a number.</summary>
/// <param name="Transports">Decoded transport and ring features ("NAME: description").</param>
/// <param name="DevFeatures">Decoded device-specific features.</param>
public sealed record VirtioFeatureSet(IReadOnlyList<string> Transports, IReadOnlyList<string> DevFeatures)
{
    /// <summary>Bits neither map decodes (QMP <c>unknown-dev-features</c>, absent when none).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ulong? UnknownDevFeatures { get; init; }
}
