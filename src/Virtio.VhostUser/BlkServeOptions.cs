using System.Globalization;

namespace Virtio.VhostUser;

/// <summary>
/// Settings of <see cref="VhostUserBlkServer.Serve"/>: this project's virtio-blk device on a disk image file or on a
/// zeroed in-memory disk, served over vhost-user (QEMU <c>-device vhost-user-blk-pci</c>).
/// </summary>
public sealed class BlkServeOptions : VhostUserServeOptions
{
    /// <summary>The disk image file; give this or <see cref="MemoryBytes"/>.</summary>
    public string? ImagePath { get; init; }

    /// <summary>The size of a zeroed in-memory disk, in whole 512-byte sectors; give this or <see cref="ImagePath"/>.</summary>
    public ulong MemoryBytes { get; init; }

    /// <summary>Refuse writes (VIRTIO_BLK_F_RO).</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Request queues (VIRTIO_BLK_F_MQ above 1).</summary>
    public int NumQueues { get; init; } = 1;

    /// <summary>The serial number GET_ID returns.</summary>
    public string Serial { get; init; } = "virtio-sharp";

    /// <inheritdoc/>
    public override string? Validate() =>
        (ImagePath is null) == (MemoryBytes == 0) ? (ImagePath is null ? "give --image FILE or --memory SIZE" : "give --image or --memory, not both")
        : MemoryBytes % 512 != 0 ? $"--memory {MemoryBytes}: not a size in whole 512-byte sectors"
        : NumQueues is < 1 or > 64 ? $"--num-queues {NumQueues}: must be from 1 to 64"
        : base.Validate() ?? CheckFaultRing(NumQueues);

    /// <summary>
    /// Parses a disk size as <c>--memory</c> takes it: bytes, or a number with a K, M, G or T suffix (binary
    /// multiples), not zero, a whole number of 512-byte sectors.
    /// </summary>
    /// <returns>Whether <paramref name="text"/> is such a size.</returns>
    public static bool TryParseSize(string text, out ulong bytes)
    {
        bytes = 0;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        int shift = char.ToUpperInvariant(text[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        string digits = shift == 0 ? text : text[..^1];
        if (!ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) || n == 0 || n > (ulong.MaxValue >> shift))
        {
            return false;
        }

        bytes = n << shift;
        return bytes % 512 == 0;
    }
}
