using Virtio.Driver;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Diagnostics.Tests.Support;

/// <summary>
/// A driver (Linux model) and a device (QEMU model) on one split ring in small guest RAM, so the diagnostics are
/// tested against rings built the way a real driver builds them. Hostile rings are written with
/// <see cref="WriteDescriptor"/> and <see cref="PublishAvail"/>.
/// </summary>
internal sealed class TestRing : IDisposable
{
    public const ulong RingBase = 0x1000;
    public const ulong IndirectBase = 0x8_0000;
    public const ulong DataBase = 0x10_0000;
    public const ulong MemorySize = 0x40_0000; // 4 MiB: dumps stay small

    private ulong _nextData = DataBase;

    public TestRing(int size = 8, bool eventIdx = true, bool indirect = false, string name = "virtio-blk")
    {
        Memory = GuestMemory.Create(MemorySize);
        Layout = SplitRingLayout.Create(RingBase, size);
        Driver = new DriverQueue<int>(Memory, Layout, new DriverQueueOptions
        {
            EventIdx = eventIdx,
            IndirectDescriptors = indirect,
            IndirectTableArea = IndirectBase,
        });
        Device = new SplitQueue(Memory, maxSize: 256, name: name)
        {
            Size = size,
            DescriptorTableAddress = Layout.DescriptorTable,
            AvailRingAddress = Layout.AvailRing,
            UsedRingAddress = Layout.UsedRing,
            EventIdx = eventIdx,
            IndirectDescriptors = indirect,
        };
        Assert.Null(Device.Enable());
    }

    public GuestMemory Memory { get; }

    public SplitRingLayout Layout { get; }

    public DriverQueue<int> Driver { get; }

    public SplitQueue Device { get; }

    public GuestSegment Buffer(uint length)
    {
        ulong address = _nextData;
        _nextData += (length + 15) & ~15u;
        return new GuestSegment(address, length);
    }

    /// <summary>A block-like request: a 16-byte header, <paramref name="data"/> writable bytes, a 1-byte status.</summary>
    public (GuestSegment Header, GuestSegment Data, GuestSegment Status) AddRequest(int token, uint data = 512)
    {
        GuestSegment header = Buffer(16), payload = Buffer(data), status = Buffer(1);
        Assert.Equal(AddResult.Added, Driver.Add([header], [payload, status], token));
        return (header, payload, status);
    }

    /// <summary>One full round trip: add, kick, pop, push, get_buf (moves used_event on).</summary>
    public void RoundTrip(int token)
    {
        AddRequest(token);
        Driver.Kick();
        Assert.Equal(PopResult.Chain, Device.Pop(out DescriptorChain chain));
        Assert.True(Device.Push(chain, 1));
        Device.ShouldNotify();
        Assert.True(Driver.TryGetBuffer(out int got, out _));
        Assert.Equal(token, got);
    }

    public void WriteDescriptor(ulong table, int index, ulong addr, uint len, DescriptorFlags flags, ushort next)
    {
        ulong at = table + ((ulong)index * 16);
        Memory.Write(at, addr);
        Memory.Write(at + 8, len);
        Memory.Write(at + 12, (ushort)flags);
        Memory.Write(at + 14, next);
    }

    public void PublishAvail(ushort position, ushort head, ushort availIdx)
    {
        Memory.Write(Layout.AvailRing + 4 + (2 * (ulong)(position & (Layout.Size - 1))), head);
        Memory.Write(Layout.AvailRing + 2, availIdx);
    }

    public byte[] RingBytes() => Memory.GetSpan(Layout.DescriptorTable, (int)(Layout.EndAddress - Layout.DescriptorTable)).ToArray();

    public void Dispose()
    {
        Device.Reset();
        Driver.Dispose();
        Memory.Dispose();
    }
}
