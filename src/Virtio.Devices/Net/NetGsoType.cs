namespace Virtio.Devices.Net;

/// <summary>The <c>gso_type</c> byte of <c>virtio_net_hdr</c> (section 5.1.6).</summary>
[Flags]
public enum NetGsoType : byte
{
    /// <summary>VIRTIO_NET_HDR_GSO_NONE: not a segmentation-offload packet.</summary>
    None = 0,

    /// <summary>VIRTIO_NET_HDR_GSO_TCPV4.</summary>
    TcpV4 = 1,

    /// <summary>VIRTIO_NET_HDR_GSO_UDP (UFO, not offered).</summary>
    Udp = 3,

    /// <summary>VIRTIO_NET_HDR_GSO_TCPV6.</summary>
    TcpV6 = 4,

    /// <summary>VIRTIO_NET_HDR_GSO_UDP_L4 (USO, not offered).</summary>
    UdpL4 = 5,

    /// <summary>VIRTIO_NET_HDR_GSO_ECN: the TCP packets carry ECN (needs HOST_ECN / GUEST_ECN, not offered).</summary>
    Ecn = 0x80,
}
