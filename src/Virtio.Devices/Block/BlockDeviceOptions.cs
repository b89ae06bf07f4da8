using Virtio.Device;

namespace Virtio.Devices.Block;

/// <summary>Settings of a <see cref="BlockDevice"/>.</summary>
public sealed class BlockDeviceOptions
{
    /// <summary>Settings shared by all devices (queue size, processing, logging, name).</summary>
    public VirtioDeviceOptions Device { get; init; } = new();

    /// <summary>Request queues (VIRTIO_BLK_F_MQ when more than one).</summary>
    public int NumQueues { get; init; } = 1;

    /// <summary>The serial GET_ID returns (up to 20 ASCII bytes, zero-padded).</summary>
    public string Serial { get; init; } = "";

    /// <summary>Logical block size (<c>blk_size</c>): a power of two from 512 to 65536. Requests must be aligned to it.</summary>
    public int LogicalBlockSize { get; init; } = 512;

    /// <summary>
    /// Writeback cache at reset (<c>writeback</c>); when 0 (writethrough) every write is flushed before it completes.
    /// Ignored for a backend without <see cref="BlockBackendCapabilities.Flush"/>: that device is write-through and
    /// does not offer VIRTIO_BLK_F_CONFIG_WCE (section 5.2.5.2).
    /// </summary>
    public bool Writeback { get; init; } = true;

    /// <summary>Most sectors in one discard segment (<c>max_discard_sectors</c>).</summary>
    public uint MaxDiscardSectors { get; init; } = 0x3f_ffff;

    /// <summary>Most segments in one discard request (<c>max_discard_seg</c>).</summary>
    public uint MaxDiscardSegments { get; init; } = 32;

    /// <summary>Discard alignment hint in sectors (<c>discard_sector_alignment</c>).</summary>
    public uint DiscardSectorAlignment { get; init; } = 1;

    /// <summary>Most sectors in one write-zeroes segment (<c>max_write_zeroes_sectors</c>).</summary>
    public uint MaxWriteZeroesSectors { get; init; } = 0x3f_ffff;

    /// <summary>Most segments in one write-zeroes request (<c>max_write_zeroes_seg</c>).</summary>
    public uint MaxWriteZeroesSegments { get; init; } = 32;
}
