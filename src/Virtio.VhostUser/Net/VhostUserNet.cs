using Virtio.Device;
using Virtio.Devices.Net;

namespace Virtio.VhostUser.Net;

/// <summary>
/// This project's virtio-net data path as a vhost-user back-end, for QEMU's <c>-netdev vhost-user</c> (DPDK's
/// <c>net_virtio_user</c> too). As with QEMU's <c>hw/net/vhost_net.c</c>, the front-end keeps the control queue and
/// the config space (the MAC comes from <c>-device virtio-net-pci,mac=</c>): the back-end serves only the rx/tx rings
/// (rx<sub>n</sub> = 2n, tx<sub>n</sub> = 2n+1) and offers only the features of <c>user_feature_bits</c> this device
/// implements: VERSION_1, EVENT_IDX, INDIRECT_DESC, MRG_RXBUF, MQ with several pairs, and the checksum and TSO
/// offloads when the backend carries the header. Everything else (GSO/UFO/ECN/USO, RSS, hash report, packed rings,
/// IN_ORDER, NOTIFICATION_DATA, RING_RESET, GUEST_ANNOUNCE) is declined, so the front-end masks it from the guest.
/// </summary>
public static class VhostUserNet
{
    /// <summary>Creates the back-end; the device attaches to <paramref name="backend"/>, which the caller keeps and disposes after it.</summary>
    /// <param name="backend">Where frames go and come from.</param>
    /// <param name="options">Settings; defaults when null.</param>
    public static VhostUserBackend CreateBackend(INetBackend backend, VhostUserNetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        options ??= new VhostUserNetOptions();
        var netOptions = new VirtioNetDeviceOptions
        {
            ControlQueue = false,
            MaxQueuePairs = options.QueuePairs,
            MergeableRxBuffers = options.MergeableRxBuffers,
            BacklogFrames = options.BacklogFrames,
        };
        var deviceOptions = new VirtioDeviceOptions { QueueSize = options.QueueSize, LoggerFactory = options.LoggerFactory };
        return new VhostUserBackend(
            memory => new VirtioNetDevice(memory, backend, netOptions, deviceOptions),
            new VhostUserBackendOptions { LoggerFactory = options.LoggerFactory, WrapCall = options.WrapCall, DrainTimeout = options.DrainTimeout, PollIdle = options.PollIdle });
    }
}
