using Virtio.Devices.Net;
using Virtio.Memory;

namespace Virtio.Devices.Tests.Net;

/// <summary><see cref="Virtio.Device.VirtioQueue.Polled"/> on virtio-net's queues.</summary>
public sealed class NetPollingTests
{
    [Fact]
    public void A_reset_ends_polling_so_a_ring_started_again_asks_for_kicks()
    {
        using var memory = GuestMemory.Create(1 << 20);
        using var device = new VirtioNetDevice(memory, new LoopbackNetBackend());
        device.Queues[0].Polled = true;
        device.Queues[1].Polled = true;

        device.Reset();

        Assert.False(device.Queues[0].Polled);
        Assert.False(device.Queues[1].Polled);
    }
}
