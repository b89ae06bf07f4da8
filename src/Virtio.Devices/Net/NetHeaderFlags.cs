namespace Virtio.Devices.Net;

/// <summary>The <c>flags</c> byte of <c>virtio_net_hdr</c> (section 5.1.6).</summary>
[Flags]
public enum NetHeaderFlags : byte
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum from <c>csum_start</c>, stored at <c>csum_start + csum_offset</c>.</summary>
    NeedsCsum = 1,

    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the checksum was validated (rx only).</summary>
    DataValid = 2,

    /// <summary>VIRTIO_NET_HDR_F_RSC_INFO: coalescing information (rx only, not offered).</summary>
    RscInfo = 4,
}
