using Virtio.Core.Tests.Support;
using Virtio.Device;

namespace Virtio.Core.Tests.Device;

/// <summary>DEVICE_NEEDS_RESET is the device's bit: a driver's status write racing a device error cannot clear it.</summary>
public sealed class StatusRaceTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public void Needs_reset_set_by_a_worker_while_the_driver_writes_the_status_survives_the_write()
    {
        for (int round = 0; round < 20; round++)
        {
            using var rig = new MmioRig();
            rig.Device.WriteStatus(DeviceStatus.Acknowledge | DeviceStatus.Driver);
            rig.Device.SetDriverFeatures(VirtioFeature.Version1);
            using var validating = new ManualResetEventSlim();
            using var errorRaised = new ManualResetEventSlim();
            int calls = 0;
            rig.Device.OnValidatingFeatures = () =>
            {
                // Hold the driver's write between its read of the status and its store, the first time only.
                if (Interlocked.Increment(ref calls) == 1)
                {
                    validating.Set();
                    Assert.True(errorRaised.Wait(Deadline));
                }
            };

            const DeviceStatus Written = DeviceStatus.Acknowledge | DeviceStatus.Driver | DeviceStatus.FeaturesOk;
            var driver = new Thread(() => rig.Device.WriteStatus(Written));
            driver.Start();
            Assert.True(validating.Wait(Deadline));
            rig.Device.DeviceError("worker: ring violation"); // a worker, while the driver's write is in flight
            errorRaised.Set();
            Assert.True(driver.Join(Deadline), "the status write did not finish");

            Assert.Equal(Written | DeviceStatus.DeviceNeedsReset, rig.Device.Status);
        }
    }

    [Fact]
    public void Needs_reset_survives_many_status_writes_racing_with_device_errors()
    {
        using var rig = new MmioRig();
        const DeviceStatus DriverStatus = DeviceStatus.Acknowledge | DeviceStatus.Driver;
        for (int i = 0; i < 2000; i++)
        {
            rig.Device.Reset();
            rig.Device.WriteStatus(DeviceStatus.Acknowledge);
            using var start = new Barrier(2);
            var driver = new Thread(() =>
            {
                start.SignalAndWait(Deadline);
                for (int k = 0; k < 50; k++)
                {
                    rig.Device.WriteStatus(DriverStatus);
                }
            });
            driver.Start();
            start.SignalAndWait(Deadline);
            rig.Device.DeviceError("worker: ring violation");
            Assert.True(driver.Join(Deadline), "the status writer did not finish");
            Assert.Equal(DriverStatus | DeviceStatus.DeviceNeedsReset, rig.Device.Status);
        }
    }
}
