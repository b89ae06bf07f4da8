using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;
using Virtio.Testing;

namespace Virtio.Devices.Tests;

/// <summary>A host's <see cref="System.Diagnostics.Metrics.IMeterFactory"/> gets the device models' instruments.</summary>
public sealed class DeviceMetersTests
{
    [Fact]
    public void Blk_requests_are_measured_on_the_hosts_meter()
    {
        using var meters = new RecordingMeterFactory();
        using var rig = new BlkRig(new MemoryBlockBackend(1 << 20), new BlockDeviceOptions { Device = new VirtioDeviceOptions { MeterFactory = meters } });
        rig.Write(8, new byte[4096]);

        Assert.Equal(1, meters.Total("virtio.blk.requests"));
        Assert.Equal(4096, meters.Total("virtio.blk.bytes"));
        Assert.Equal(0, meters.Total("virtio.blk.in_flight"));
        Assert.Contains("Virtio.Devices", meters.MeterNames);
    }

    [Fact]
    public void Net_frames_are_measured_on_the_hosts_meter()
    {
        using var meters = new RecordingMeterFactory();
        using var rig = new NetRig(options: new VirtioDeviceOptions { MeterFactory = meters });
        rig.PostRx(1, 1536);
        rig.Send(NetRig.Frame(60));
        Assert.Single(rig.Receive());

        Assert.Equal(1, meters.Total("virtio.net.tx.packets"));
        Assert.Equal(1, meters.Total("virtio.net.rx.packets"));
        Assert.Equal(60, meters.Total("virtio.net.rx.bytes"));
    }
}
