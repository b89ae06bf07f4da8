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

    private sealed class ThrowingNetBackend : INetBackend
    {
        public bool CarriesHeader => false;

        public void Attach(INetFrameSink sink)
        {
        }

        public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame) =>
            throw new InvalidOperationException("backend bug in Transmit");

        public void ReceiveReady()
        {
        }
    }
}
