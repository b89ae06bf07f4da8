using System.Buffers.Binary;
using System.Diagnostics;
using Virtio.Device;
using Virtio.Memory;
using Virtio.Rings;
using Virtio.Transport;
using R = Virtio.Transport.VirtioMmioRegister;

namespace Virtio.Devices.Tests.Hostile;

/// <summary>
/// A hostile guest: it drives a device through virtio-mmio registers but writes its own rings by hand (no Linux-model
/// driver), so it can break any rule. Queue 0's areas go where the test says, overlapping or not.
/// </summary>
internal sealed class RawGuest : IDisposable
{
    public const ulong MemoryBytes = 16 << 20;
    public const ulong Desc = 0x1_0000;
    public const ulong Avail = 0x2_0000;
    public const ulong Used = 0x3_0000;
    public const ulong Indirect = 0x4_0000;
    public const ulong Data = 0x10_0000;

    private ushort _availIdx;

    public RawGuest(Func<GuestMemory, VirtioDevice> device, int size = 8, ulong features = VirtioFeature.RingIndirectDesc, ulong desc = Desc, ulong avail = Avail, ulong used = Used, int queue = 0)
    {
        Memory = GuestMemory.Create(MemoryBytes);
        Device = device(Memory);
        Mmio = new VirtioMmioTransport(Device);
        Size = size;
        DescAddress = desc;
        AvailAddress = avail;
        UsedAddress = used;
        QueueIndex = queue;
        Features = features | VirtioFeature.Version1;
        Setup();
    }

    public GuestMemory Memory { get; }

    public VirtioDevice Device { get; }

    public VirtioMmioTransport Mmio { get; }

    public int Size { get; }

    public int QueueIndex { get; }

    public ulong Features { get; }

    public ulong DescAddress { get; }

    public ulong AvailAddress { get; }

    public ulong UsedAddress { get; }

    /// <summary>True when queue 0 became ready (a bad ring layout breaks the device instead).</summary>
    public bool QueueReady { get; private set; }

    public bool NeedsReset => ((DeviceStatus)Mmio.Read(R.Status, 4) & DeviceStatus.DeviceNeedsReset) != 0;

    public ushort UsedIdx => Memory.Read<ushort>(UsedAddress + 2);

    /// <summary>Probes as a driver would, with the queue areas this guest chose: status, features, queue, DRIVER_OK.</summary>
    public void Setup()
    {
        _availIdx = 0;
        Mmio.Write(R.Status, 4, 0);
        Mmio.Write(R.Status, 4, (uint)(DeviceStatus.Acknowledge | DeviceStatus.Driver));
        Mmio.Write(R.DriverFeaturesSel, 4, 1);
        Mmio.Write(R.DriverFeatures, 4, (uint)(Features >> 32));
        Mmio.Write(R.DriverFeaturesSel, 4, 0);
        Mmio.Write(R.DriverFeatures, 4, (uint)Features);
        Mmio.Write(R.Status, 4, (uint)(DeviceStatus.Acknowledge | DeviceStatus.Driver | DeviceStatus.FeaturesOk));
        Memory.GetSpan(AvailAddress, 4).Clear();
        if (UsedAddress + 4 <= MemoryBytes)
        {
            Memory.GetSpan(UsedAddress, 4).Clear();
        }

        for (int q = 0; q <= QueueIndex; q++)
        {
            Mmio.Write(R.QueueSel, 4, (uint)q);
            Mmio.Write(R.QueueNum, 4, (uint)Size);
            ulong d = q == QueueIndex ? DescAddress : 0x8_0000 + ((ulong)q * 0x1_0000);
            ulong a = q == QueueIndex ? AvailAddress : d + 0x4000;
            ulong u = q == QueueIndex ? UsedAddress : d + 0x8000;
            Mmio.Write(R.QueueDescLow, 4, (uint)d);
            Mmio.Write(R.QueueDescHigh, 4, (uint)(d >> 32));
            Mmio.Write(R.QueueDriverLow, 4, (uint)a);
            Mmio.Write(R.QueueDriverHigh, 4, (uint)(a >> 32));
            Mmio.Write(R.QueueDeviceLow, 4, (uint)u);
            Mmio.Write(R.QueueDeviceHigh, 4, (uint)(u >> 32));
            Mmio.Write(R.QueueReady, 4, 1);
        }

        Mmio.Write(R.QueueSel, 4, (uint)QueueIndex);
        QueueReady = Mmio.Read(R.QueueReady, 4) == 1;
        Mmio.Write(R.Status, 4, (uint)(DeviceStatus.Acknowledge | DeviceStatus.Driver | DeviceStatus.FeaturesOk | DeviceStatus.DriverOk));
    }

    public void Descriptor(int index, ulong addr, uint len, DescriptorFlags flags = DescriptorFlags.None, ushort next = 0, ulong table = 0)
    {
        ulong at = (table == 0 ? DescAddress : table) + ((ulong)index * 16);
        Memory.Write(at, addr);
        Memory.Write(at + 8, len);
        Memory.Write(at + 12, (ushort)flags);
        Memory.Write(at + 14, next);
    }

    /// <summary>Makes <paramref name="head"/> available (next avail slot, then avail->idx) without kicking.</summary>
    public void Post(ushort head)
    {
        Memory.Write(AvailAddress + 4 + (2 * (ulong)(_availIdx & (Size - 1))), head);
        Memory.Write(AvailAddress + 2, ++_availIdx);
    }

    public void SetAvailIdx(ushort value)
    {
        _availIdx = value;
        Memory.Write(AvailAddress + 2, value);
    }

    public void Kick() => Mmio.Write(R.QueueNotify, 4, (uint)QueueIndex);

    /// <summary>Waits (on the device's interrupt line, with a deadline) until used->idx reaches <paramref name="count"/> or the device needs a reset.</summary>
    public bool WaitUsedOrNeedsReset(ushort count, int timeoutMs = 20_000)
    {
        var clock = Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < timeoutMs)
        {
            if ((ushort)(UsedIdx - count) < 0x8000 || NeedsReset)
            {
                return true;
            }

            if (Device.Interrupt.Wait(100))
            {
                Device.Interrupt.TestAndClear();
            }
        }

        return false;
    }

    /// <summary>A 16-byte virtio-blk header at <paramref name="address"/>.</summary>
    public void BlkHeader(ulong address, uint type, ulong sector)
    {
        Span<byte> h = Memory.GetSpan(address, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], sector);
    }

    public void Dispose()
    {
        Device.Dispose();
        Memory.Dispose();
    }
}
