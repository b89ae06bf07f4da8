namespace Virtio.Devices.Net;

/// <summary>
/// The receive side of a virtio-net device, as a backend sees it. Frames land in a bounded per-queue-pair backlog and
/// are placed into the driver's rx buffers under the rx queue's lock, on the calling thread when queues are served
/// inline or on the rx queue's worker otherwise. Safe from any thread.
/// </summary>
public interface INetFrameSink
{
    /// <summary>
    /// Delivers a frame; when the backlog is full the frame is dropped and counted (a NIC with no room: what a
    /// loopback or a back-to-back pair does).
    /// </summary>
    /// <param name="queuePair">The rx queue pair (taken modulo the active pairs).</param>
    /// <param name="header">The frame's header; only offload fields are used (the device sets <c>num_buffers</c>).</param>
    /// <param name="frame">The Ethernet frame; copied before returning.</param>
    NetReceiveResult Receive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame);

    /// <summary>
    /// Delivers a frame unless the backlog is full, in which case nothing is taken and the backend's
    /// <see cref="INetBackend.ReceiveReady"/> is called once there is room: for backends that must not drop.
    /// </summary>
    /// <returns>False when the frame was not taken.</returns>
    bool TryReceive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame);

    /// <summary>The backend can take frames again after answering <see cref="NetTransmitResult.Busy"/> (QEMU's <c>virtio_net_tx_complete</c>).</summary>
    void TransmitReady();
}
