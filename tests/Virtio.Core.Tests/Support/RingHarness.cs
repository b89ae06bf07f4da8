using Virtio.Driver;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Core.Tests.Support;

/// <summary>
/// One split ring in fresh guest RAM with both sides attached: the Linux-model driver and the QEMU-model device,
/// plus a bump allocator for data buffers. Tests build rings through the driver, not by poking bytes, unless they
/// test what a hostile driver can write (then <see cref="WriteDescriptor"/> and friends).
/// </summary>
internal sealed class RingHarness : IDisposable
{
    public const ulong RingBase = 0x1_0000;
    public const ulong IndirectBase = 0x20_0000;
    public const ulong DataBase = 0x100_0000;
    public const ulong MemorySize = 0x400_0000; // 64 MiB

    private ulong _nextData = DataBase;

    public RingHarness(int size = 8, bool eventIdx = true, bool indirect = false, int maxIndirectSegments = 16, ulong memorySize = MemorySize, bool clampUsedLength = false)
    {
        Memory = GuestMemory.Create(memorySize);
        Layout = SplitRingLayout.Create(RingBase, size);
        Driver = new DriverQueue<int>(Memory, Layout, new DriverQueueOptions
        {
            EventIdx = eventIdx,
            IndirectDescriptors = indirect,
            IndirectTableArea = IndirectBase,
            MaxIndirectSegments = maxIndirectSegments,
            ClampUsedLength = clampUsedLength,
        });
        Device = new SplitQueue(Memory, maxSize: Math.Max(size, 256))
        {
            Size = size,
            DescriptorTableAddress = Layout.DescriptorTable,
            AvailRingAddress = Layout.AvailRing,
            UsedRingAddress = Layout.UsedRing,
            EventIdx = eventIdx,
            IndirectDescriptors = indirect,
        };
        VirtqueueError? error = Device.Enable();
        Assert.Null(error);
    }

    public GuestMemory Memory { get; }

    public SplitRingLayout Layout { get; }

    public DriverQueue<int> Driver { get; }

    public SplitQueue Device { get; }

    /// <summary>Allocates a data buffer in guest RAM (16-byte aligned) and fills it with <paramref name="fill"/>.</summary>
    public GuestSegment Buffer(uint length, byte fill = 0)
    {
        ulong address = _nextData;
        _nextData += (length + 15) & ~15u;
        if (_nextData > Memory.EndAddress)
        {
            throw new InvalidOperationException("harness data area exhausted");
        }

        Memory.GetSpan(address, (int)length).Fill(fill);
        return new GuestSegment(address, length);
    }

    /// <summary>Adds a buffer of one readable and one writable segment; returns the token passed.</summary>
    public int AddSimple(int token, uint readable = 16, uint writable = 16)
    {
        GuestSegment[] outs = readable > 0 ? [Buffer(readable, (byte)token)] : [];
        GuestSegment[] ins = writable > 0 ? [Buffer(writable)] : [];
        Assert.Equal(AddResult.Added, Driver.Add(outs, ins, token));
        return token;
    }

    /// <summary>Pops one chain on the device side and asserts there was one.</summary>
    public DescriptorChain PopOne()
    {
        Assert.Equal(PopResult.Chain, Device.Pop(out DescriptorChain chain));
        return chain;
    }

    public unsafe void WriteDescriptor(int index, ulong addr, uint len, DescriptorFlags flags, ushort next, ulong table = 0)
    {
        ulong at = (table == 0 ? Layout.DescriptorTable : table) + ((ulong)index * 16);
        Memory.Write(at, addr);
        Memory.Write(at + 8, len);
        Memory.Write(at + 12, (ushort)flags);
        Memory.Write(at + 14, next);
    }

    /// <summary>Puts <paramref name="head"/> at avail ring slot <paramref name="slot"/> and sets avail->idx.</summary>
    public void PublishAvail(ushort slot, ushort head, ushort availIdx)
    {
        Memory.Write(Layout.AvailRing + 4 + (2 * (ulong)(slot & (Layout.Size - 1))), head);
        Memory.Write(Layout.AvailRing + 2, availIdx);
    }

    /// <summary>Makes the device side ready again after a <see cref="SplitQueue.Reset"/> (the driver writing QueueReady = 1).</summary>
    public void EnableAgain(bool indirect = false)
    {
        Device.Size = Layout.Size;
        Device.DescriptorTableAddress = Layout.DescriptorTable;
        Device.AvailRingAddress = Layout.AvailRing;
        Device.UsedRingAddress = Layout.UsedRing;
        Device.IndirectDescriptors = indirect;
        Assert.Null(Device.Enable());
    }

    public ushort UsedEvent => Memory.Read<ushort>(Layout.AvailRing + 4 + (2 * (ulong)Layout.Size));

    public ushort AvailEvent => Memory.Read<ushort>(Layout.UsedRing + 4 + (8 * (ulong)Layout.Size));

    public ushort GuestUsedIdx => Memory.Read<ushort>(Layout.UsedRing + 2);

    public ushort GuestAvailIdx => Memory.Read<ushort>(Layout.AvailRing + 2);

    public void Dispose()
    {
        Device.Reset();
        Driver.Dispose();
        Memory.Dispose();
    }
}
