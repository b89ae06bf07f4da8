using System.Buffers.Binary;
using System.Net.NetworkInformation;
using Microsoft.Extensions.Logging;
using Virtio.Device;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Devices.Net;

/// <summary>
/// virtio-net (VIRTIO 1.2 section 5.1), modelled on QEMU's <c>hw/net/virtio-net.c</c>: rx/tx queue pairs and a control
/// queue, <c>virtio_net_hdr_v1</c> in front of every frame, mergeable rx buffers, MAC/status/MTU/max_virtqueue_pairs in
/// config, receive filtering, link status and announce, frames exchanged with an <see cref="INetBackend"/>.
/// </summary>
/// <remarks>
/// <para>Queues: rx<sub>n</sub> = 2n, tx<sub>n</sub> = 2n+1, the control queue 2·max_virtqueue_pairs with MQ and 2
/// without it (section 5.1.2).</para>
/// <para>Threading: frames from the backend, on any thread, go into a bounded backlog per queue pair; the device then
/// kicks its own rx queue so they are placed under the rx queue's lock (QEMU's <c>qemu_flush_queued_packets</c>). A
/// loopback backend therefore delivers synchronously on the tx thread (tx lock, then rx lock; rx handlers never take a
/// tx lock, so two devices back to back cannot deadlock).</para>
/// <para>Guest errors follow QEMU: a tx chain with a device-writable descriptor or too short for the header, an rx
/// chain with no room for the header, a control command without its headers are device errors (NEEDS_RESET); a frame
/// with an impossible header is dropped and counted; a frame that does not fit the rx buffers is dropped and counted.</para>
/// </remarks>
public sealed partial class VirtioNetDevice : VirtioDevice
{
    /// <summary>The VIRTIO device ID of a network card.</summary>
    public const uint Id = 1;

    /// <summary>Bytes of config space used: mac, status, max_virtqueue_pairs, mtu.</summary>
    public const int ConfigLength = 12;

    /// <summary>The longest frame (without header) either direction carries: a 64 KiB TSO packet and its Ethernet header.</summary>
    public const int MaxFrameLength = 65550;

    /// <summary>An Ethernet header: shorter frames are runts.</summary>
    public const int MinFrameLength = 14;

    private const int ConfigMac = 0;
    private const int ConfigStatus = 6;
    private const int ConfigMaxPairs = 8;
    private const int ConfigMtu = 10;

    private readonly INetBackend _backend;
    private readonly byte[] _defaultMac;
    private readonly byte[] _mac = new byte[6];
    private readonly NetRxBacklog[] _backlogs;
    private readonly RxState[] _rx;
    private readonly TxState[] _tx;
    private readonly NetRxFilter _filter = new();
    private readonly Lock _configLock = new();
    private readonly long[] _drops = new long[NetMetrics.ReasonTags.Length];
    private readonly KeyValuePair<string, object?> _deviceTag;
    private readonly bool _controlQueue;
    private readonly NetMetrics _metrics;
    private long _txPackets;
    private long _txBytes;
    private long _rxPackets;
    private long _rxBytes;
    private int _activePairs = 1;
    private int _featurePairs = 1;
    private int _ctrlIndex = 2;
    private bool _linkUp;

    /// <summary>Creates the device and attaches it to <paramref name="backend"/>.</summary>
    /// <param name="memory">Guest RAM.</param>
    /// <param name="backend">Where frames go and come from; the device does not own it.</param>
    /// <param name="netOptions">Network settings; defaults when null.</param>
    /// <param name="options">Settings every device has; defaults when null.</param>
    public VirtioNetDevice(GuestMemory memory, INetBackend backend, VirtioNetDeviceOptions? netOptions = null, VirtioDeviceOptions? options = null)
        : base(memory, Id, "virtio-net", QueueCountFor(netOptions), ConfigLength, FeaturesFor(netOptions, backend), options)
    {
        ArgumentNullException.ThrowIfNull(backend);
        netOptions ??= new VirtioNetDeviceOptions();
        _backend = backend;
        _controlQueue = netOptions.ControlQueue;
        MaxQueuePairs = netOptions.MaxQueuePairs;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(netOptions.BacklogFrames);
        byte[] mac = netOptions.MacAddress?.GetAddressBytes() ?? [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        if (mac.Length != 6)
        {
            throw new ArgumentException($"a MAC address is 6 bytes, got {mac.Length}", nameof(netOptions));
        }

        _defaultMac = mac;
        _deviceTag = new KeyValuePair<string, object?>("device", Name);
        _metrics = NetMetrics.For(MeterFactory);
        _backlogs = new NetRxBacklog[MaxQueuePairs];
        _rx = new RxState[MaxQueuePairs];
        _tx = new TxState[MaxQueuePairs];
        int queueSize = Queues[0].Ring.MaxSize;
        for (int i = 0; i < MaxQueuePairs; i++)
        {
            _backlogs[i] = new NetRxBacklog(netOptions.BacklogFrames);
            _rx[i] = new RxState(queueSize);
            _tx[i] = new TxState();
        }

        mac.CopyTo(_mac, 0);
        mac.CopyTo(Config[ConfigMac..]);
        BinaryPrimitives.WriteUInt16LittleEndian(Config[ConfigStatus..], (ushort)(netOptions.LinkUp ? NetConfigStatus.LinkUp : NetConfigStatus.None));
        _linkUp = netOptions.LinkUp;
        BinaryPrimitives.WriteUInt16LittleEndian(Config[ConfigMaxPairs..], (ushort)MaxQueuePairs);
        BinaryPrimitives.WriteUInt16LittleEndian(Config[ConfigMtu..], netOptions.Mtu ?? 0);
        backend.Attach(new Port(this));
    }

    /// <summary><c>max_virtqueue_pairs</c>.</summary>
    public int MaxQueuePairs { get; }

    /// <summary>The queue pairs in use: 1 until the driver sends VQ_PAIRS_SET (with MQ).</summary>
    public int ActiveQueuePairs => Volatile.Read(ref _activePairs);

    /// <summary>The config <c>status</c> field.</summary>
    public NetConfigStatus LinkStatus
    {
        get
        {
            lock (_configLock)
            {
                return (NetConfigStatus)BinaryPrimitives.ReadUInt16LittleEndian(Config[ConfigStatus..]);
            }
        }
    }

    /// <summary>The current MAC address (the driver may change it with VIRTIO_NET_CTRL_MAC_ADDR_SET).</summary>
    public PhysicalAddress MacAddress
    {
        get
        {
            lock (_configLock)
            {
                return new PhysicalAddress((byte[])_mac.Clone());
            }
        }
    }

    /// <summary>Promiscuous mode (VIRTIO_NET_CTRL_RX_PROMISC); on after reset, as in QEMU.</summary>
    public bool Promiscuous => _filter.Promiscuous;

    /// <summary>All-multicast mode (VIRTIO_NET_CTRL_RX_ALLMULTI).</summary>
    public bool AllMulticast => _filter.AllMulticast;

    /// <summary>Frames waiting in <paramref name="queuePair"/>'s backlog for rx buffers.</summary>
    public int BacklogCount(int queuePair) => _backlogs[queuePair].Count;

    /// <summary>The frame counters.</summary>
    public NetStatistics Statistics
    {
        get
        {
            long dropped = 0;
            for (int i = 0; i < _drops.Length; i++)
            {
                dropped += Volatile.Read(ref _drops[i]);
            }

            return new NetStatistics(Volatile.Read(ref _txPackets), Volatile.Read(ref _txBytes), Volatile.Read(ref _rxPackets), Volatile.Read(ref _rxBytes), dropped);
        }
    }

    /// <summary>The frames and bytes queue pair <paramref name="queuePair"/> carried each way (drops are counted per device).</summary>
    public NetQueuePairStatistics QueuePairStatistics(int queuePair)
    {
        TxState tx = _tx[queuePair];
        RxState rx = _rx[queuePair];
        return new NetQueuePairStatistics(Volatile.Read(ref tx.Total.Packets), Volatile.Read(ref tx.Total.Bytes), Volatile.Read(ref rx.Total.Packets), Volatile.Read(ref rx.Total.Bytes));
    }

    /// <summary>Frames dropped for <paramref name="reason"/>.</summary>
    public long Drops(NetDropReason reason) => Volatile.Read(ref _drops[(int)reason]);

    /// <summary>Sets the link up or down (QEMU's <c>virtio_net_set_link_status</c>): config status and a config interrupt.</summary>
    public void SetLinkUp(bool up)
    {
        if (UpdateStatus(up ? NetConfigStatus.LinkUp : NetConfigStatus.None, NetConfigStatus.LinkUp))
        {
            NetLog.LinkStatus(Logger, Name, up ? "up" : "down");
            NotifyConfigChanged();
        }
    }

    /// <summary>
    /// Asks the driver to announce itself (QEMU's <c>virtio_net_announce</c>): sets VIRTIO_NET_S_ANNOUNCE and raises a
    /// config interrupt, when GUEST_ANNOUNCE was negotiated; the driver acknowledges with VIRTIO_NET_CTRL_ANNOUNCE_ACK.
    /// </summary>
    /// <returns>False when the driver did not negotiate GUEST_ANNOUNCE (or the device is not live).</returns>
    public bool Announce()
    {
        if (!IsLive || !HasFeature(NetFeature.GuestAnnounce | NetFeature.CtrlVq))
        {
            return false;
        }

        UpdateStatus(NetConfigStatus.Announce, NetConfigStatus.Announce);
        NetLog.Announce(Logger, Name, "requested");
        NotifyConfigChanged();
        return true;
    }

    /// <inheritdoc/>
    /// <remarks>The rx queues: their buffers wait, read but not popped, until a frame comes.</remarks>
    public override bool PopsOnDemand(int queueIndex) => queueIndex < 2 * MaxQueuePairs && (queueIndex & 1) == 0;

    /// <inheritdoc/>
    protected override string? ValidateFeatures(ulong driverFeatures)
    {
        // Section 5.1.3.1: the driver MUST NOT negotiate a feature without the ones it depends on.
        static bool Missing(ulong features, ulong feature, ulong requires) =>
            (features & feature) != 0 && (features & requires) != requires;

        if (Missing(driverFeatures, NetFeature.GuestTso4 | NetFeature.GuestTso6, NetFeature.GuestCsum))
        {
            return "GUEST_TSO4/6 without GUEST_CSUM";
        }

        if (Missing(driverFeatures, NetFeature.HostTso4 | NetFeature.HostTso6, NetFeature.Csum))
        {
            return "HOST_TSO4/6 without CSUM";
        }

        // Without a control queue of its own (vhost-user), the front-end's control queue selects the queue pairs.
        ulong needControl = NetFeature.CtrlRx | NetFeature.GuestAnnounce | NetFeature.CtrlMacAddr | (_controlQueue ? NetFeature.Mq : 0);
        if (Missing(driverFeatures, needControl, NetFeature.CtrlVq))
        {
            return "CTRL_RX, GUEST_ANNOUNCE, MQ or CTRL_MAC_ADDR without CTRL_VQ";
        }

        return null;
    }

    /// <inheritdoc/>
    protected override void OnActivate()
    {
        _featurePairs = HasFeature(NetFeature.Mq) ? MaxQueuePairs : 1;
        _ctrlIndex = HasFeature(NetFeature.CtrlVq) ? 2 * _featurePairs : -1;
        Volatile.Write(ref _activePairs, _controlQueue ? 1 : _featurePairs);
    }

    /// <inheritdoc/>
    protected override void OnResetting()
    {
        // A chain the backend refused is still in flight; give it back before the rings go (QEMU detaches async_tx).
        for (int i = 0; i < _tx.Length; i++)
        {
            if (_tx[i].TryTakePending(out DescriptorChain chain))
            {
                Queues[TxIndex(i)].Complete(chain, 0);
            }
        }
    }

    /// <inheritdoc/>
    protected override void OnReset()
    {
        // virtio_net_reset: MAC back to the configured one, promiscuous on, one queue pair, queued packets purged.
        lock (_configLock)
        {
            _defaultMac.CopyTo(_mac, 0);
            _defaultMac.CopyTo(Config[ConfigMac..]);
            ushort status = BinaryPrimitives.ReadUInt16LittleEndian(Config[ConfigStatus..]);
            BinaryPrimitives.WriteUInt16LittleEndian(Config[ConfigStatus..], (ushort)(status & ~(ushort)NetConfigStatus.Announce));
        }

        _filter.Reset();
        Volatile.Write(ref _activePairs, 1);
        bool refused = false;
        for (int i = 0; i < _backlogs.Length; i++)
        {
            int purged = _backlogs[i].Clear();
            for (int n = 0; n < purged; n++)
            {
                CountDrop(NetDropReason.Reset, i, 0);
            }

            refused |= _backlogs[i].TakeRefusal() | (purged > 0);
        }

        if (refused)
        {
            try
            {
                _backend.ReceiveReady();
            }
            catch (Exception e)
            {
                // Reset runs on the control thread (the driver's status write): a backend bug must not end it half done.
                NetLog.BackendFailed(Logger, Name, nameof(INetBackend.ReceiveReady), e);
            }
        }
    }

    /// <inheritdoc/>
    protected override void HandleQueue(VirtioQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        int index = queue.Index;
        if (index == _ctrlIndex)
        {
            base.HandleQueue(queue); // pops each command into HandleChain
        }
        else if (index < 2 * _featurePairs)
        {
            if ((index & 1) == 0)
            {
                HandleRx(queue, index >> 1);
            }
            else
            {
                TransmitBatch(queue, index >> 1);
            }
        }

        // Any other queue is not in use with the negotiated features: its buffers are left alone.
    }

    private static int QueueCountFor(VirtioNetDeviceOptions? options)
    {
        int pairs = options?.MaxQueuePairs ?? 1;
        ArgumentOutOfRangeException.ThrowIfLessThan(pairs, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pairs, 0x8000, nameof(options));
        return (2 * pairs) + (options?.ControlQueue ?? true ? 1 : 0);
    }

    private static ulong FeaturesFor(VirtioNetDeviceOptions? options, INetBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        options ??= new VirtioNetDeviceOptions();
        ulong offloads = options.Offloads && backend.CarriesHeader ? NetFeature.Offloads : 0;
        if (!options.ControlQueue)
        {
            // The data path only: what QEMU's vhost_net user_feature_bits passes down and this device implements.
            return (options.MergeableRxBuffers ? NetFeature.MrgRxBuf : 0) | (options.MaxQueuePairs > 1 ? NetFeature.Mq : 0) | offloads;
        }

        ulong features = NetFeature.Mac | NetFeature.Status | NetFeature.CtrlVq | NetFeature.CtrlRx
            | NetFeature.CtrlMacAddr | NetFeature.GuestAnnounce;
        features |= options.MergeableRxBuffers ? NetFeature.MrgRxBuf : 0;
        features |= options.Mtu is not null ? NetFeature.Mtu : 0;
        features |= options.MaxQueuePairs > 1 ? NetFeature.Mq : 0;
        features |= offloads;
        return features;
    }

    private static int RxIndex(int pair) => 2 * pair;

    private static int TxIndex(int pair) => (2 * pair) + 1;

    /// <summary>LINK_UP, read on every frame without the config lock (<see cref="UpdateStatus"/> keeps it current).</summary>
    private bool LinkIsUp => Volatile.Read(ref _linkUp);

    /// <returns>True when the status changed.</returns>
    private bool UpdateStatus(NetConfigStatus value, NetConfigStatus mask)
    {
        lock (_configLock)
        {
            ushort old = BinaryPrimitives.ReadUInt16LittleEndian(Config[ConfigStatus..]);
            ushort next = (ushort)((old & ~(ushort)mask) | ((ushort)value & (ushort)mask));
            BinaryPrimitives.WriteUInt16LittleEndian(Config[ConfigStatus..], next);
            Volatile.Write(ref _linkUp, (next & (ushort)NetConfigStatus.LinkUp) != 0);
            return next != old;
        }
    }

    private void CountDrop(NetDropReason reason, int pair, int length)
    {
        Interlocked.Increment(ref _drops[(int)reason]);
        _metrics.Drops.Add(1, _deviceTag, new KeyValuePair<string, object?>("reason", NetMetrics.ReasonTags[(int)reason]));
        if (Logger.IsEnabled(LogLevel.Debug))
        {
            NetLog.Drop(Logger, Name, pair, length, reason);
        }
    }

    /// <summary>The device's receive side as its backend sees it.</summary>
    private sealed class Port(VirtioNetDevice device) : INetFrameSink
    {
        public NetReceiveResult Receive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame) =>
            device.Enqueue(queuePair, header, frame, refuseWhenFull: false) == EnqueueResult.Accepted ? NetReceiveResult.Accepted : NetReceiveResult.Dropped;

        public bool TryReceive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame) =>
            device.Enqueue(queuePair, header, frame, refuseWhenFull: true) != EnqueueResult.Refused;

        public void TransmitReady() => device.OnTransmitReady();
    }
}
