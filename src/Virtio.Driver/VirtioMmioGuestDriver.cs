using Virtio.Device;
using Virtio.Memory;
using Virtio.Notifications;
using Virtio.Rings;
using Virtio.Transport;

namespace Virtio.Driver;

/// <summary>
/// A guest driver that finds and sets up a device over virtio-mmio registers as Linux's <c>virtio_mmio.c</c> and
/// <c>virtio.c</c> do (reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK and its read-back, queue setup, DRIVER_OK),
/// then drives each queue with a <see cref="DriverQueue{TToken}"/>. For test harnesses and fault scenarios: it is the
/// other side of a device the way a real guest is, through the same registers.
/// </summary>
/// <typeparam name="TToken">What the caller keeps per request (Linux's <c>data</c> pointer).</typeparam>
public sealed class VirtioMmioGuestDriver<TToken> : IDisposable
{
    private readonly VirtioMmioTransport _mmio;
    private readonly List<DriverQueue<TToken>> _queues = [];
    private ulong _next;

    /// <summary>A driver for the device behind <paramref name="transport"/>, with guest RAM it may use for rings and buffers.</summary>
    /// <param name="transport">The device's register window.</param>
    /// <param name="memory">Guest RAM.</param>
    /// <param name="heapBase">Start of the guest-physical area this driver allocates rings and buffers from.</param>
    /// <param name="heapSize">Bytes in that area.</param>
    public VirtioMmioGuestDriver(VirtioMmioTransport transport, GuestMemory memory, ulong heapBase, ulong heapSize)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(memory);
        _mmio = transport;
        Memory = memory;
        HeapBase = heapBase;
        HeapEnd = heapBase + heapSize;
        _next = heapBase;
    }

    /// <summary>Guest RAM.</summary>
    public GuestMemory Memory { get; }

    /// <summary>Start of the driver's allocation area.</summary>
    public ulong HeapBase { get; }

    /// <summary>End (exclusive) of the driver's allocation area.</summary>
    public ulong HeapEnd { get; }

    /// <summary>The features both sides agreed on, after <see cref="Probe"/>.</summary>
    public ulong NegotiatedFeatures { get; private set; }

    /// <summary>The queues set up by <see cref="Probe"/>.</summary>
    public IReadOnlyList<DriverQueue<TToken>> Queues => _queues;

    /// <summary>The register window.</summary>
    public VirtioMmioTransport Transport => _mmio;

    /// <summary>Allocates zeroed guest memory from the driver's area (never freed: a test driver's bump allocator).</summary>
    /// <exception cref="InvalidOperationException">The area is exhausted.</exception>
    public ulong Allocate(ulong size, ulong alignment = 16)
    {
        ulong address = (_next + alignment - 1) & ~(alignment - 1);
        if (address + size > HeapEnd || address + size < address)
        {
            throw new InvalidOperationException($"guest driver heap exhausted: {size} bytes wanted at 0x{address:x}, heap ends at 0x{HeapEnd:x}");
        }

        _next = address + size;
        Memory.GetSpan(address, checked((int)size)).Clear();
        return address;
    }

    /// <summary>
    /// Probes and initialises the device (Linux <c>virtio_mmio_probe</c> + <c>virtio_dev_probe</c> +
    /// <c>vm_find_vqs</c>): checks magic, version and device ID, resets, sets ACKNOWLEDGE and DRIVER, negotiates
    /// <paramref name="wantedFeatures"/> against the device's, sets FEATURES_OK and checks it stuck, sets up
    /// <paramref name="queueCount"/> queues of up to <paramref name="queueSize"/> entries, and (unless
    /// <paramref name="driverOk"/> is false) sets DRIVER_OK.
    /// </summary>
    /// <exception cref="InvalidOperationException">The device refused something, with what and why.</exception>
    public void Probe(ulong wantedFeatures, int queueCount, int queueSize = 256, bool driverOk = true, int maxIndirectSegments = 16)
    {
        if (Read(VirtioMmioRegister.MagicValue) != VirtioMmioRegister.Magic)
        {
            throw new InvalidOperationException("wrong magic value");
        }

        if (Read(VirtioMmioRegister.Version) != 2)
        {
            throw new InvalidOperationException($"version {Read(VirtioMmioRegister.Version)} not supported");
        }

        if (Read(VirtioMmioRegister.DeviceId) == 0)
        {
            throw new InvalidOperationException("no device (ID 0)");
        }

        WriteStatus(DeviceStatus.None);
        if (Read(VirtioMmioRegister.Status) != 0)
        {
            throw new InvalidOperationException("the device did not reset");
        }

        ReleaseQueues(); // a second probe (after a reset, or NEEDS_RESET) sets every queue up afresh

        AddStatus(DeviceStatus.Acknowledge);
        AddStatus(DeviceStatus.Driver);
        ulong offered = ReadDeviceFeatures();
        NegotiatedFeatures = offered & (wantedFeatures | VirtioFeature.Version1);
        WriteDriverFeatures(NegotiatedFeatures);
        AddStatus(DeviceStatus.FeaturesOk);
        if (((DeviceStatus)Read(VirtioMmioRegister.Status) & DeviceStatus.FeaturesOk) == 0)
        {
            throw new InvalidOperationException($"the device refused features 0x{NegotiatedFeatures:x} (FEATURES_OK did not stick)");
        }

        for (int i = 0; i < queueCount; i++)
        {
            SetupQueue(i, queueSize, maxIndirectSegments);
        }

        if (driverOk)
        {
            AddStatus(DeviceStatus.DriverOk);
        }
    }

    /// <summary>Sets DRIVER_OK (when <see cref="Probe"/> was told not to).</summary>
    public void SetDriverOk() => AddStatus(DeviceStatus.DriverOk);

    /// <summary>The device's offered features, both words (DeviceFeaturesSel 0 and 1).</summary>
    public ulong ReadDeviceFeatures()
    {
        Write(VirtioMmioRegister.DeviceFeaturesSel, 1);
        ulong high = Read(VirtioMmioRegister.DeviceFeatures);
        Write(VirtioMmioRegister.DeviceFeaturesSel, 0);
        return (high << 32) | Read(VirtioMmioRegister.DeviceFeatures);
    }

    /// <summary>Writes both words of the driver's features.</summary>
    public void WriteDriverFeatures(ulong features)
    {
        Write(VirtioMmioRegister.DriverFeaturesSel, 1);
        Write(VirtioMmioRegister.DriverFeatures, (uint)(features >> 32));
        Write(VirtioMmioRegister.DriverFeaturesSel, 0);
        Write(VirtioMmioRegister.DriverFeatures, (uint)features);
    }

    /// <summary>The status register.</summary>
    public DeviceStatus ReadStatus() => (DeviceStatus)Read(VirtioMmioRegister.Status);

    /// <summary>Writes the status register (0 resets the device).</summary>
    public void WriteStatus(DeviceStatus status) => Write(VirtioMmioRegister.Status, (uint)status);

    /// <summary>
    /// Reads config space consistently: retries while the generation changes during the read (Linux
    /// <c>virtio_cread_bytes</c> + <c>vm_generation</c>).
    /// </summary>
    public void ReadConfig(int offset, Span<byte> destination)
    {
        uint before, after;
        do
        {
            before = Read(VirtioMmioRegister.ConfigGeneration);
            for (int i = 0; i < destination.Length; i++)
            {
                destination[i] = (byte)_mmio.Read((ulong)(VirtioMmioRegister.Config + offset + i), 1);
            }

            after = Read(VirtioMmioRegister.ConfigGeneration);
        }
        while (before != after);
    }

    /// <summary>Writes config space a byte at a time (Linux <c>vm_set</c>).</summary>
    public void WriteConfig(int offset, ReadOnlySpan<byte> source)
    {
        for (int i = 0; i < source.Length; i++)
        {
            _mmio.Write((ulong)(VirtioMmioRegister.Config + offset + i), 1, source[i]);
        }
    }

    /// <summary>The interrupt handler's first step (Linux <c>vm_interrupt</c>): reads InterruptStatus and acknowledges it.</summary>
    public InterruptReason TakeInterrupt()
    {
        var status = (InterruptReason)Read(VirtioMmioRegister.InterruptStatus);
        if (status != InterruptReason.None)
        {
            Write(VirtioMmioRegister.InterruptAck, (uint)status);
        }

        return status;
    }

    /// <summary>Disposes the queues' driver sides (the device is reset first, as Linux's remove path does).</summary>
    public void Dispose()
    {
        WriteStatus(DeviceStatus.None);
        ReleaseQueues();
    }

    private void ReleaseQueues()
    {
        foreach (DriverQueue<TToken> queue in _queues)
        {
            queue.Dispose();
        }

        _queues.Clear();
    }

    private void SetupQueue(int index, int wantedSize, int maxIndirectSegments)
    {
        // vm_setup_vq: select, check not in use, size from QueueNumMax, allocate, program addresses, QueueReady.
        Write(VirtioMmioRegister.QueueSel, (uint)index);
        if (Read(VirtioMmioRegister.QueueReady) != 0)
        {
            throw new InvalidOperationException($"queue {index} is already set up");
        }

        uint max = Read(VirtioMmioRegister.QueueNumMax);
        if (max == 0)
        {
            throw new InvalidOperationException($"queue {index} does not exist");
        }

        int size = (int)Math.Min((uint)wantedSize, max);
        SplitRingLayout layout = SplitRingLayout.Create(0, size);
        ulong ringBase = Allocate(layout.EndAddress, SplitRingLayout.LegacyAlignment);
        layout = SplitRingLayout.Create(ringBase, size);
        bool indirect = (NegotiatedFeatures & VirtioFeature.RingIndirectDesc) != 0;
        ulong indirectArea = indirect ? Allocate((ulong)size * (ulong)maxIndirectSegments * 16, 16) : 0;
        var options = new DriverQueueOptions
        {
            EventIdx = (NegotiatedFeatures & VirtioFeature.RingEventIdx) != 0,
            IndirectDescriptors = indirect,
            IndirectTableArea = indirectArea,
            MaxIndirectSegments = maxIndirectSegments,
            QueueIndex = index,
        };
        var queue = new DriverQueue<TToken>(Memory, layout, options) { KickChannel = new QueueNotifyChannel(_mmio, index) };
        Write(VirtioMmioRegister.QueueNum, (uint)size);
        Write(VirtioMmioRegister.QueueDescLow, (uint)layout.DescriptorTable);
        Write(VirtioMmioRegister.QueueDescHigh, (uint)(layout.DescriptorTable >> 32));
        Write(VirtioMmioRegister.QueueDriverLow, (uint)layout.AvailRing);
        Write(VirtioMmioRegister.QueueDriverHigh, (uint)(layout.AvailRing >> 32));
        Write(VirtioMmioRegister.QueueDeviceLow, (uint)layout.UsedRing);
        Write(VirtioMmioRegister.QueueDeviceHigh, (uint)(layout.UsedRing >> 32));
        Write(VirtioMmioRegister.QueueReady, 1);
        if (Read(VirtioMmioRegister.QueueReady) != 1)
        {
            queue.Dispose();
            throw new InvalidOperationException($"queue {index} did not become ready");
        }

        _queues.Add(queue);
    }

    private void AddStatus(DeviceStatus bits) => WriteStatus(ReadStatus() | bits);

    private uint Read(int register) => (uint)_mmio.Read((ulong)register, 4);

    private void Write(int register, uint value) => _mmio.Write((ulong)register, 4, value);

    /// <summary>The driver's kick: a write of the queue index to QueueNotify (Linux <c>vm_notify</c>).</summary>
    private sealed class QueueNotifyChannel(VirtioMmioTransport mmio, int index) : IEventNotifier
    {
        private long _signals;

        public bool IsSet => false;

        public long SignalCount => Volatile.Read(ref _signals);

        public long WakeCount => 0;

        public void Signal()
        {
            Interlocked.Increment(ref _signals);
            mmio.Write(VirtioMmioRegister.QueueNotify, 4, (uint)index);
        }

        public ulong TestAndClear() => 0;

        public bool Wait(int millisecondsTimeout) => false;

        public ValueTask WaitAsync(CancellationToken cancellationToken = default) =>
            ValueTask.FromException(new NotSupportedException("a QueueNotify register write is not waited on"));
    }
}
