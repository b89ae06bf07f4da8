using Virtio.Driver;
using Virtio.Memory;
using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Testing;

/// <summary>
/// One split ring in fresh guest RAM with both sides attached: the Linux-model driver and the QEMU-model device, their
/// kick and call channels, and a bump allocator for data buffers. Tests build rings through the driver, not by poking
/// bytes, unless they test what a hostile driver can write (then <see cref="WriteDescriptor"/> and
/// <see cref="PublishAvail"/>). The device runs only when the test says so (<see cref="PopOne"/>,
/// <see cref="ServiceKick"/>), like a worker that wakes on its kick channel.
/// </summary>
public sealed class RingHarness : IDisposable
{
    /// <summary><see cref="RingPlacement.Default"/>'s ring address.</summary>
    public const ulong RingBase = 0x1_0000;

    /// <summary><see cref="RingPlacement.Default"/>'s indirect table area.</summary>
    public const ulong IndirectBase = 0x20_0000;

    /// <summary><see cref="RingPlacement.Default"/>'s first data buffer.</summary>
    public const ulong DataBase = 0x100_0000;

    /// <summary><see cref="RingPlacement.Default"/>'s RAM size (64 MiB).</summary>
    public const ulong MemorySize = 0x400_0000;

    private ulong _nextData;

    /// <summary>Creates the ring and makes the device side ready (QueueReady = 1).</summary>
    /// <param name="size">Queue size.</param>
    /// <param name="eventIdx">Whether VIRTIO_RING_F_EVENT_IDX is negotiated (both sides).</param>
    /// <param name="indirect">Whether VIRTIO_RING_F_INDIRECT_DESC is negotiated (both sides).</param>
    /// <param name="maxIndirectSegments">The driver's largest indirect table.</param>
    /// <param name="memorySize">RAM size, when not the placement's.</param>
    /// <param name="clampUsedLength">The driver option of that name.</param>
    /// <param name="placement">Where things go; <see cref="RingPlacement.Default"/> when null.</param>
    /// <param name="name">The device queue's name (diagnostics print it).</param>
    /// <param name="attachKick">Whether the driver signals <see cref="Kick"/> (otherwise its kick channel is null).</param>
    /// <param name="wrapKick">Wraps the kick channel (fault injection) before any traffic; implies <paramref name="attachKick"/>.</param>
    /// <param name="wrapCall">Wraps the call channel before any traffic.</param>
    public RingHarness(
        int size = 8,
        bool eventIdx = true,
        bool indirect = false,
        int maxIndirectSegments = 16,
        ulong? memorySize = null,
        bool clampUsedLength = false,
        RingPlacement? placement = null,
        string name = "virtio",
        bool attachKick = false,
        Func<IEventNotifier, IEventNotifier>? wrapKick = null,
        Func<IEventNotifier, IEventNotifier>? wrapCall = null)
    {
        Placement = placement ?? RingPlacement.Default;
        _nextData = Placement.DataBase;
        Memory = GuestMemory.Create(memorySize ?? Placement.MemorySize);
        Layout = SplitRingLayout.Create(Placement.RingBase, size);
        Kick = wrapKick is null ? KickInner : wrapKick(KickInner);
        Call = wrapCall is null ? CallInner : wrapCall(CallInner);
        Driver = new DriverQueue<int>(Memory, Layout, new DriverQueueOptions
        {
            EventIdx = eventIdx,
            IndirectDescriptors = indirect,
            IndirectTableArea = Placement.IndirectBase,
            MaxIndirectSegments = maxIndirectSegments,
            ClampUsedLength = clampUsedLength,
        })
        {
            KickChannel = attachKick || wrapKick is not null ? Kick : null,
        };
        Device = new SplitQueue(Memory, maxSize: Math.Max(size, 256), name: name)
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

    /// <summary>Where the ring and buffers are.</summary>
    public RingPlacement Placement { get; }

    /// <summary>Guest RAM.</summary>
    public GuestMemory Memory { get; }

    /// <summary>The ring's layout.</summary>
    public SplitRingLayout Layout { get; }

    /// <summary>The Linux-model driver; tokens are ints.</summary>
    public DriverQueue<int> Driver { get; }

    /// <summary>The QEMU-model device side.</summary>
    public SplitQueue Device { get; }

    /// <summary>The kick channel itself.</summary>
    public EventNotifier KickInner { get; } = new();

    /// <summary>The call channel itself.</summary>
    public EventNotifier CallInner { get; } = new();

    /// <summary>What the driver signals (the inner kick channel, or its fault-injecting wrapper).</summary>
    public IEventNotifier Kick { get; }

    /// <summary>What the device signals (the inner call channel, or its fault-injecting wrapper).</summary>
    public IEventNotifier Call { get; }

    /// <summary><c>used_event</c> as the guest wrote it.</summary>
    public ushort UsedEvent => Memory.Read<ushort>(Layout.UsedEventAddress);

    /// <summary><c>avail_event</c> as the device wrote it.</summary>
    public ushort AvailEvent => Memory.Read<ushort>(Layout.AvailEventAddress);

    /// <summary><c>used-&gt;idx</c> in guest RAM.</summary>
    public ushort GuestUsedIdx => Memory.Read<ushort>(Layout.UsedIdxAddress);

    /// <summary><c>avail-&gt;idx</c> in guest RAM.</summary>
    public ushort GuestAvailIdx => Memory.Read<ushort>(Layout.AvailIdxAddress);

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

    /// <summary>A block-like request: a 16-byte header, <paramref name="data"/> writable bytes, a 1-byte status.</summary>
    public (GuestSegment Header, GuestSegment Data, GuestSegment Status) AddRequest(int token, uint data = 512)
    {
        GuestSegment header = Buffer(16), payload = Buffer(data), status = Buffer(1);
        Assert.Equal(AddResult.Added, Driver.Add([header], [payload, status], token));
        return (header, payload, status);
    }

    /// <summary>The driver adds one buffer (16 readable, 16 writable bytes) and kicks if the device asked for it.</summary>
    public void AddAndKick(int token)
    {
        AddSimple(token);
        Driver.Kick();
    }

    /// <summary>One full round trip: add, kick, pop, push, get_buf (moves used_event on).</summary>
    public void RoundTrip(int token)
    {
        AddRequest(token);
        Driver.Kick();
        DescriptorChain chain = PopOne();
        Assert.True(Device.Push(chain, 1));
        Device.ShouldNotify();
        Assert.True(Driver.TryGetBuffer(out int got, out _));
        Assert.Equal(token, got);
    }

    /// <summary>Pops one chain on the device side and asserts there was one.</summary>
    public DescriptorChain PopOne()
    {
        Assert.Equal(PopResult.Chain, Device.Pop(out DescriptorChain chain));
        return chain;
    }

    /// <summary>
    /// The device worker's loop body: if the kick channel is set, clear it, pop and complete everything available,
    /// and signal the call channel when <see cref="SplitQueue.ShouldNotify"/> says so.
    /// </summary>
    /// <returns>How many chains were completed (0 when no kick was pending).</returns>
    public int ServiceKick()
    {
        if (Kick.TestAndClear() == 0)
        {
            return 0;
        }

        int done = 0;
        while (Device.Pop(out DescriptorChain chain) == PopResult.Chain)
        {
            Assert.True(Device.Push(chain, 0));
            done++;
        }

        if (done > 0 && Device.ShouldNotify())
        {
            Call.Signal();
        }

        return done;
    }

    /// <summary>The driver's interrupt handler: if the call channel is set, clear it and take every used buffer.</summary>
    public int ServiceCall()
    {
        if (Call.TestAndClear() == 0)
        {
            return 0;
        }

        int taken = 0;
        while (Driver.TryGetBuffer(out _, out _))
        {
            taken++;
        }

        return taken;
    }

    /// <summary>Writes descriptor <paramref name="index"/> of the ring's table, or of the indirect <paramref name="table"/>.</summary>
    public void WriteDescriptor(int index, ulong addr, uint len, DescriptorFlags flags, ushort next, ulong table = 0)
    {
        ulong at = (table == 0 ? Layout.DescriptorTable : table) + SplitRing.DescriptorOffset((uint)index);
        Memory.Write(at, addr);
        Memory.Write(at + 8, len);
        Memory.Write(at + 12, (ushort)flags);
        Memory.Write(at + 14, next);
    }

    /// <summary>Puts <paramref name="head"/> at avail ring slot <paramref name="slot"/> and sets avail->idx.</summary>
    public void PublishAvail(ushort slot, ushort head, ushort availIdx)
    {
        Memory.Write(Layout.AvailEntryAddress(slot), head);
        Memory.Write(Layout.AvailIdxAddress, availIdx);
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

    /// <summary>The three ring areas as bytes (what a dump of them holds).</summary>
    public byte[] RingBytes() => Memory.GetSpan(Layout.DescriptorTable, (int)(Layout.EndAddress - Layout.DescriptorTable)).ToArray();

    /// <inheritdoc/>
    public void Dispose()
    {
        Device.Reset();
        Driver.Dispose();
        Memory.Dispose();
    }
}
