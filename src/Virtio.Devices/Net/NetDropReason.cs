namespace Virtio.Devices.Net;

/// <summary>Why a virtio-net device dropped a frame (the <c>reason</c> tag of <c>virtio.net.drops</c>).</summary>
public enum NetDropReason
{
    /// <summary>rx: the backlog of frames waiting for rx buffers was full.</summary>
    BacklogFull,

    /// <summary>rx without MRG_RXBUF: the frame does not fit in one rx chain (QEMU "truncated non-mergeable packet").</summary>
    RxBufferTooSmall,

    /// <summary>rx: the receive filter (promiscuous, all-multicast, MAC tables) rejected the frame.</summary>
    Filtered,

    /// <summary>rx: a segmentation-offload frame the driver did not negotiate receiving.</summary>
    GsoNotNegotiated,

    /// <summary>rx or tx: the link is down (config status without LINK_UP).</summary>
    LinkDown,

    /// <summary>tx: a header with impossible offload values (unnegotiated gso/csum, checksum outside the frame...).</summary>
    BadHeader,

    /// <summary>tx or rx: a frame longer than <see cref="VirtioNetDevice.MaxFrameLength"/>.</summary>
    Oversize,

    /// <summary>tx or rx: a frame shorter than an Ethernet header (14 bytes).</summary>
    Runt,

    /// <summary>rx: a frame still in the backlog when the device was reset.</summary>
    Reset,

    /// <summary>
    /// tx: the chain's buffers could not be read in full (the guest rewrote the chain after it was popped, which
    /// breaks the queue, or a reset made the chain stale): a partial frame is never sent.
    /// </summary>
    ShortRead,

    /// <summary>
    /// rx: the driver posted a buffer too short for the virtio-net header (section 5.1.6.3.1); it was given back
    /// unused (used length 0) and the frame dropped.
    /// </summary>
    RxBufferShorterThanHeader,
}
