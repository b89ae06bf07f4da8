using Virtio.Driver;
using Virtio.Memory;
using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Diagnostics.Tests.Support;

/// <summary>
/// One split ring in fresh guest RAM with the Linux-model driver, the QEMU-model device and their kick and call
/// channels, which a test may wrap with fault injection before any traffic. The device runs only when the test says
/// <see cref="ServiceKick"/>, like a worker that wakes on its kick channel.
/// </summary>
internal sealed class DriverDevicePair : IDisposable
{
    private const ulong RingBase = 0x1_0000;
    private const ulong DataBase = 0x10_0000;
    private ulong _nextData = DataBase;

    public DriverDevicePair(int size = 8, bool eventIdx = true, Func<IEventNotifier, IEventNotifier>? wrapKick = null, Func<IEventNotifier, IEventNotifier>? wrapCall = null)
    {
        Memory = GuestMemory.Create(0x100_0000);
        SplitRingLayout layout = SplitRingLayout.Create(RingBase, size);
        Kick = wrapKick is null ? KickInner : wrapKick(KickInner);
        Call = wrapCall is null ? CallInner : wrapCall(CallInner);
        Driver = new DriverQueue<int>(Memory, layout, new DriverQueueOptions { EventIdx = eventIdx }) { KickChannel = Kick };
        Device = new SplitQueue(Memory, maxSize: 256, index: 0, name: "virtio-test")
        {
            Size = size,
            DescriptorTableAddress = layout.DescriptorTable,
            AvailRingAddress = layout.AvailRing,
            UsedRingAddress = layout.UsedRing,
            EventIdx = eventIdx,
        };
        Assert.Null(Device.Enable());
    }

    public GuestMemory Memory { get; }

    public DriverQueue<int> Driver { get; }

    public SplitQueue Device { get; }

    public EventNotifier KickInner { get; } = new();

    public EventNotifier CallInner { get; } = new();

    /// <summary>What the driver signals (the inner kick channel, or its fault-injecting wrapper).</summary>
    public IEventNotifier Kick { get; }

    /// <summary>What the device signals (the inner call channel, or its fault-injecting wrapper).</summary>
    public IEventNotifier Call { get; }

    /// <summary>The driver adds one buffer (16 readable, 16 writable bytes) and kicks if the device asked for it.</summary>
    public void AddAndKick(int token)
    {
        GuestSegment[] outs = [NextBuffer()];
        GuestSegment[] ins = [NextBuffer()];
        Assert.Equal(AddResult.Added, Driver.Add(outs, ins, token));
        Driver.Kick();
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

    public void Dispose()
    {
        Device.Reset();
        Driver.Dispose();
        Memory.Dispose();
    }

    private GuestSegment NextBuffer()
    {
        ulong address = _nextData;
        _nextData += 16;
        return new GuestSegment(address, 16);
    }
}
