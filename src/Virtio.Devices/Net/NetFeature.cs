namespace Virtio.Devices.Net;

/// <summary>virtio-net feature bits (VIRTIO 1.2 section 5.1.3), as masks over the 64-bit feature set.</summary>
public static class NetFeature
{
    /// <summary>VIRTIO_NET_F_CSUM (0): the device handles packets with a partial checksum (tx offload).</summary>
    public const ulong Csum = 1UL << 0;

    /// <summary>VIRTIO_NET_F_GUEST_CSUM (1): the driver handles packets with a partial checksum (rx offload).</summary>
    public const ulong GuestCsum = 1UL << 1;

    /// <summary>VIRTIO_NET_F_MTU (3): <c>mtu</c> in config is valid.</summary>
    public const ulong Mtu = 1UL << 3;

    /// <summary>VIRTIO_NET_F_MAC (5): the device has a MAC address in config.</summary>
    public const ulong Mac = 1UL << 5;

    /// <summary>VIRTIO_NET_F_GUEST_TSO4 (7): the driver can receive TSOv4.</summary>
    public const ulong GuestTso4 = 1UL << 7;

    /// <summary>VIRTIO_NET_F_GUEST_TSO6 (8): the driver can receive TSOv6.</summary>
    public const ulong GuestTso6 = 1UL << 8;

    /// <summary>VIRTIO_NET_F_HOST_TSO4 (11): the device can receive TSOv4 (tx segmentation offload).</summary>
    public const ulong HostTso4 = 1UL << 11;

    /// <summary>VIRTIO_NET_F_HOST_TSO6 (12): the device can receive TSOv6.</summary>
    public const ulong HostTso6 = 1UL << 12;

    /// <summary>VIRTIO_NET_F_MRG_RXBUF (15): the driver can merge receive buffers (<c>num_buffers</c>).</summary>
    public const ulong MrgRxBuf = 1UL << 15;

    /// <summary>VIRTIO_NET_F_STATUS (16): <c>status</c> in config is valid.</summary>
    public const ulong Status = 1UL << 16;

    /// <summary>VIRTIO_NET_F_CTRL_VQ (17): a control virtqueue exists.</summary>
    public const ulong CtrlVq = 1UL << 17;

    /// <summary>VIRTIO_NET_F_CTRL_RX (18): rx mode control (promiscuous, all-multicast, MAC filter table).</summary>
    public const ulong CtrlRx = 1UL << 18;

    /// <summary>VIRTIO_NET_F_GUEST_ANNOUNCE (21): the driver sends gratuitous packets when asked.</summary>
    public const ulong GuestAnnounce = 1UL << 21;

    /// <summary>VIRTIO_NET_F_MQ (22): several rx/tx queue pairs, selected with VQ_PAIRS_SET.</summary>
    public const ulong Mq = 1UL << 22;

    /// <summary>VIRTIO_NET_F_CTRL_MAC_ADDR (23): the MAC address is set through the control queue.</summary>
    public const ulong CtrlMacAddr = 1UL << 23;

    /// <summary>The offload bits, offered only when the backend carries the header (<see cref="INetBackend.CarriesHeader"/>).</summary>
    public const ulong Offloads = Csum | GuestCsum | HostTso4 | HostTso6 | GuestTso4 | GuestTso6;
}
