namespace Virtio.Devices.Net;

/// <summary>
/// Where a virtio-net device's frames go and come from (QEMU's <c>-netdev</c>, the NIC's peer). The device attaches
/// once and then calls <see cref="Transmit"/> from its tx handlers; the backend delivers received frames to the
/// <see cref="INetFrameSink"/> it was given, from any thread.
/// </summary>
public interface INetBackend
{
    /// <summary>
    /// True when frames keep their <see cref="VirtioNetHeader"/> end to end (QEMU's <c>has_vnet_hdr</c>), so checksum
    /// and segmentation offloads can be honoured; the device offers the offload features only then.
    /// </summary>
    bool CarriesHeader { get; }

    /// <summary>Connects the device's receive side; called once, by the device's constructor.</summary>
    /// <exception cref="InvalidOperationException">Already attached.</exception>
    void Attach(INetFrameSink sink);

    /// <summary>
    /// Sends one frame (QEMU's <c>qemu_sendv_packet_async</c>). The backend copies what it keeps before returning
    /// <see cref="NetTransmitResult.Sent"/>; <see cref="NetTransmitResult.Busy"/> means it took nothing and will call
    /// <see cref="INetFrameSink.TransmitReady"/> when it can take frames again.
    /// </summary>
    /// <param name="queuePair">The tx queue pair the frame came from.</param>
    /// <param name="header">The frame's header (offloads; meaningful only when <see cref="CarriesHeader"/>).</param>
    /// <param name="frame">The Ethernet frame, without the header.</param>
    NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame);

    /// <summary>
    /// The device has room again after refusing a frame from <see cref="INetFrameSink.TryReceive"/> (QEMU's
    /// <c>qemu_flush_queued_packets</c> from the rx handler). Called under the rx queue's lock: only signal.
    /// </summary>
    void ReceiveReady();
}
