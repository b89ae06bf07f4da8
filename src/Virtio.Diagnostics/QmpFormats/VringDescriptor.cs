using System.Text.Json.Serialization;
using Virtio.Rings;

namespace Virtio.Diagnostics;

/// <summary>
/// One descriptor as diagnostics show it (QEMU's <c>VirtioRingDesc</c>): in JSON <c>addr</c> (u64, may exceed 2^63),
/// <c>len</c>, and <c>flags</c> as QEMU's names.
/// </summary>
/// <param name="Addr">Guest-physical buffer address.</param>
/// <param name="Len">Buffer length in bytes.</param>
/// <param name="Flags">The raw flags (bits this library does not name are kept).</param>
public sealed record VringDescriptor(
    [property: JsonPropertyName("addr")] ulong Addr,
    [property: JsonPropertyName("len")] uint Len,
    [property: JsonIgnore] DescriptorFlags Flags)
{
    // The packed-ring bits QEMU's qmp_decode_vring_desc_flags also names (VRING_PACKED_DESC_F_AVAIL/USED).
    private const ushort PackedAvail = 1 << 7;
    private const ushort PackedUsed = 1 << 15;

    private static readonly string[] NoFlags = [];

    /// <summary>The flag names in QEMU's order: used, avail, indirect, write, next.</summary>
    [JsonPropertyName("flags")]
    public IReadOnlyList<string> FlagNames => DecodeFlags((ushort)Flags);

    /// <summary>The descriptor in one bracket, as the text reports list a chain: <c>[0x1000 len 16 write,next]</c>.</summary>
    public string ToShortText() => string.Create(
        System.Globalization.CultureInfo.InvariantCulture,
        $"[0x{Addr:x} len {Len}{(FlagNames.Count > 0 ? " " + string.Join(',', FlagNames) : string.Empty)}]");

    /// <summary>
    /// Names the set bits as <c>qmp_decode_vring_desc_flags</c> does: it prepends each match of its map (next, write,
    /// indirect, avail, used) to a list, so the names come out in reverse map order.
    /// </summary>
    public static IReadOnlyList<string> DecodeFlags(ushort flags)
    {
        if ((flags & (PackedUsed | PackedAvail | (ushort)(DescriptorFlags.Indirect | DescriptorFlags.Write | DescriptorFlags.Next))) == 0)
        {
            return NoFlags;
        }

        var names = new List<string>(5);
        if ((flags & PackedUsed) != 0)
        {
            names.Add("used");
        }

        if ((flags & PackedAvail) != 0)
        {
            names.Add("avail");
        }

        if ((flags & (ushort)DescriptorFlags.Indirect) != 0)
        {
            names.Add("indirect");
        }

        if ((flags & (ushort)DescriptorFlags.Write) != 0)
        {
            names.Add("write");
        }

        if ((flags & (ushort)DescriptorFlags.Next) != 0)
        {
            names.Add("next");
        }

        return names;
    }
}
