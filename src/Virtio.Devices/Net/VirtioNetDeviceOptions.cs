using System.Net.NetworkInformation;

namespace Virtio.Devices.Net;

/// <summary>Settings of a <see cref="VirtioNetDevice"/> beyond those every device has.</summary>
public sealed class VirtioNetDeviceOptions
{
    /// <summary>The MAC address in config (VIRTIO_NET_F_MAC); QEMU's default 52:54:00:12:34:56 when null.</summary>
    public PhysicalAddress? MacAddress { get; init; }

    /// <summary>The MTU in config (VIRTIO_NET_F_MTU, offered only when set).</summary>
    public ushort? Mtu { get; init; }

    /// <summary><c>max_virtqueue_pairs</c>: 1 (no MQ) up to 0x8000 (VIRTIO_NET_F_MQ when more than 1).</summary>
    public int MaxQueuePairs { get; init; } = 1;

    /// <summary>Frames a queue pair keeps while the driver has no rx buffers; more are dropped (or refused, for <see cref="INetFrameSink.TryReceive"/>).</summary>
    public int BacklogFrames { get; init; } = 256;

    /// <summary>Offer VIRTIO_NET_F_MRG_RXBUF.</summary>
    public bool MergeableRxBuffers { get; init; } = true;

    /// <summary>Offer the checksum and TSO features when the backend carries the header.</summary>
    public bool Offloads { get; init; } = true;

    /// <summary>The link state at start (config status LINK_UP).</summary>
    public bool LinkUp { get; init; } = true;

    /// <summary>
    /// True (the default) for a whole device: a control queue, config-space features and control features. False
    /// serves only the data path, as a vhost-user back-end does (QEMU's <c>vhost_net.c</c> passes the back-end only
    /// the features of <c>user_feature_bits</c> and keeps the control queue and config space itself): 2·<see
    /// cref="MaxQueuePairs"/> queues, only MRG_RXBUF, MQ and the offloads offered (besides the ring features), and
    /// every queue pair active once the driver negotiated MQ, because the front-end answers VQ_PAIRS_SET and starts
    /// or stops the rings of each pair itself.
    /// </summary>
    public bool ControlQueue { get; init; } = true;
}
