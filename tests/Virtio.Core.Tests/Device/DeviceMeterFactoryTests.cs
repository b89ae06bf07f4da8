using Virtio.Device;
using Virtio.Core.Tests.Support;
using Virtio.Testing;
using Virtio.Transport;

namespace Virtio.Core.Tests.Device;

/// <summary>A host's <see cref="System.Diagnostics.Metrics.IMeterFactory"/> gets the core library's instruments (the Microsoft.Extensions.Diagnostics pattern).</summary>
public sealed class DeviceMeterFactoryTests
{
    private const ulong RingFeatures = VirtioFeature.RingEventIdx | VirtioFeature.RingIndirectDesc;

    [Fact]
    public void Interrupts_and_resets_are_measured_on_the_hosts_meter()
    {
        using var meters = new RecordingMeterFactory();
        using var rig = new MmioRig(new VirtioDeviceOptions { MeterFactory = meters });
        rig.Driver.Probe(RingFeatures, 1, 16); // resets the device first, as Linux's probe does
        Assert.Equal(1, meters.Total("virtio.device.resets"));
        rig.AddRequest(0, 1, [1, 2, 3]);
        rig.Queue(0).Kick();
        rig.Driver.WriteStatus(0);

        Assert.Equal(["Virtio.Core"], meters.MeterNames);
        Assert.True(meters.Total("virtio.device.interrupts") >= 1);
        Assert.Equal(2, meters.Total("virtio.device.resets"));
    }

    [Fact]
    public void A_ring_violation_is_measured_on_the_hosts_meter()
    {
        using var meters = new RecordingMeterFactory();
        using var rig = new MmioRig(new VirtioDeviceOptions { MeterFactory = meters });
        rig.Driver.Probe(RingFeatures, 1, 16);
        var ring = rig.Device.Queues[0].Ring;
        rig.Memory.Write<ushort>(ring.AvailRingAddress + 4, 99); // a head past the 16-entry table
        rig.Memory.Write<ushort>(ring.AvailRingAddress + 2, 1);
        rig.SetReg(VirtioMmioRegister.QueueNotify, 0);

        Assert.Equal(1, meters.Total("virtio.ring.errors"));
        Assert.Equal(1, meters.Total("virtio.device.needs_reset"));
    }
}
