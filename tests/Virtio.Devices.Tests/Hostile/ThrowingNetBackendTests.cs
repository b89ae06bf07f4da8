using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;
using Virtio.Rings;

namespace Virtio.Devices.Tests.Hostile;

/// <summary>A net backend that throws from Transmit breaks the device (NEEDS_RESET); the process and the worker live.</summary>
[Collection(nameof(UnhandledExceptionCounting))]
public sealed class ThrowingNetBackendTests
{
    [Theory]
    [InlineData(Virtio.Device.QueueProcessing.Inline)]
    [InlineData(Virtio.Device.QueueProcessing.Worker)]
    public void A_backend_that_throws_from_Transmit_breaks_the_device(Virtio.Device.QueueProcessing processing)
    {
        using var counter = new UnhandledExceptionCounter();
        var backend = new ThrowingNetBackend();
        // The chain the handler popped when it threw is never completed: reset need not wait for it.
        var options = new Virtio.Device.VirtioDeviceOptions { Processing = processing, ResetDrainTimeout = TimeSpan.Zero };
        using var guest = new RawGuest(m => new VirtioNetDevice(m, backend, options: options), queue: 1);
        guest.Memory.GetSpan(RawGuest.Data, VirtioNetHeader.Size).Clear();
        NetRig.Frame(60).CopyTo(guest.Memory.GetSpan(RawGuest.Data + VirtioNetHeader.Size, 60));
        guest.Descriptor(0, RawGuest.Data, VirtioNetHeader.Size + 60);
        guest.Post(0);
        guest.Kick();

        Assert.True(guest.WaitUsedOrNeedsReset(1));
        Assert.True(guest.NeedsReset);
        Assert.Contains("handler failed: InvalidOperationException: backend bug in Transmit", guest.Device.BrokenReason, StringComparison.Ordinal);
        counter.AssertNone();
    }

    [Fact]
    public void A_backend_that_throws_from_ReceiveReady_during_reset_does_not_stop_the_reset()
    {
        using var counter = new UnhandledExceptionCounter();
        var backend = new ThrowingNetBackend { ThrowFromReceiveReady = true };
        using var guest = new RawGuest(m => new VirtioNetDevice(m, backend), queue: 0);

        // No rx buffer is posted: the frame waits in the backlog, so the reset purges it and calls ReceiveReady.
        Assert.True(backend.Sink!.TryReceive(0, default, NetRig.Frame(60)));
        guest.Mmio.Write(Virtio.Transport.VirtioMmioRegister.Status, 4, 0);

        Assert.Equal(Virtio.Device.DeviceStatus.None, guest.Device.Status);
        Assert.Equal(1, backend.ReceiveReadyCalls);
        counter.AssertNone();
    }

    private sealed class ThrowingNetBackend : INetBackend
    {
        public bool ThrowFromReceiveReady { get; init; }

        public INetFrameSink? Sink { get; private set; }

        public int ReceiveReadyCalls { get; private set; }

        public bool CarriesHeader => false;

        public void Attach(INetFrameSink sink) => Sink = sink;

        public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame) =>
            throw new InvalidOperationException("backend bug in Transmit");

        public void ReceiveReady()
        {
            ReceiveReadyCalls++;
            if (ThrowFromReceiveReady)
            {
                throw new InvalidOperationException("backend bug in ReceiveReady");
            }
        }
    }
}
