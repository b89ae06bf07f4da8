namespace Virtio.Devices.Net;

/// <summary>The <c>status</c> field of the virtio-net config space (section 5.1.4).</summary>
[Flags]
public enum NetConfigStatus : ushort
{
    /// <summary>Link down, nothing to announce.</summary>
    None = 0,

    /// <summary>VIRTIO_NET_S_LINK_UP.</summary>
    LinkUp = 1,

    /// <summary>VIRTIO_NET_S_ANNOUNCE: the device asks the driver to announce itself (GUEST_ANNOUNCE).</summary>
    Announce = 2,
}
