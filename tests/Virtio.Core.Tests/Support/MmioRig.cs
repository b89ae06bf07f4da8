using Virtio.Device;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Core.Tests.Support;

/// <summary>Guest RAM, an <see cref="EchoDevice"/> behind virtio-mmio, and a Linux-like guest driver for it.</summary>
internal sealed class MmioRig : IDisposable
{
    public const ulong HeapBase = 0x10_0000;

    public MmioRig(VirtioDeviceOptions? options = null, int queues = 2)
    {
        Memory = GuestMemory.Create(64 << 20);
        Device = new EchoDevice(Memory, options, queues);
        Mmio = new VirtioMmioTransport(Device);
        Driver = new VirtioMmioGuestDriver<int>(Mmio, Memory, HeapBase, (64 << 20) - HeapBase);
    }

    public GuestMemory Memory { get; }

    public EchoDevice Device { get; }

    public VirtioMmioTransport Mmio { get; }

    public VirtioMmioGuestDriver<int> Driver { get; }

    public DriverQueue<int> Queue(int index) => Driver.Queues[index];

    public ulong Reg(int register) => Mmio.Read((ulong)register, 4);

    public void SetReg(int register, uint value) => Mmio.Write((ulong)register, 4, value);

    /// <summary>A request with <paramref name="payload"/> readable and as many bytes writable; returns the writable address.</summary>
    public ulong AddRequest(int queue, int token, byte[] payload)
    {
        ulong outAddr = Driver.Allocate((ulong)payload.Length);
        ulong inAddr = Driver.Allocate((ulong)payload.Length);
        payload.CopyTo(Memory.GetSpan(outAddr, payload.Length));
        AddResult r = Queue(queue).Add([new GuestSegment(outAddr, (uint)payload.Length)], [new GuestSegment(inAddr, (uint)payload.Length)], token);
        Assert.Equal(AddResult.Added, r);
        return inAddr;
    }

    public void Dispose()
    {
        Driver.Dispose();
        Device.Dispose();
        Memory.Dispose();
    }
}
