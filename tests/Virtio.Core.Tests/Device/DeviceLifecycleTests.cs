using Virtio.Testing;
using Virtio.Core.Tests.Support;
using Virtio.Device;
using Virtio.Faults;
using Virtio.Rings;
using R = Virtio.Transport.VirtioMmioRegister;

namespace Virtio.Core.Tests.Device;

/// <summary>Status state machine, feature negotiation, activation, device errors and reset (VIRTIO 1.x 2.1, 3.1).</summary>
public class DeviceLifecycleTests
{
    private const ulong RingFeatures = VirtioFeature.RingEventIdx | VirtioFeature.RingIndirectDesc;

    [Fact]
    public void Probe_like_linux_negotiates_the_common_features_and_makes_the_device_live()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(EchoDevice.FeatureA | RingFeatures | (1UL << 40), 2, 128);
        Assert.Equal(EchoDevice.FeatureA | RingFeatures | VirtioFeature.Version1, rig.Device.DriverFeatures);
        Assert.Equal(DeviceStatus.Acknowledge | DeviceStatus.Driver | DeviceStatus.FeaturesOk | DeviceStatus.DriverOk, rig.Device.Status);
        Assert.True(rig.Device.IsLive);
        Assert.Equal(1, rig.Device.Activations);
        Assert.All(rig.Device.Queues, q => Assert.True(q.Ring.IsReady && q.Ring.Size == 128 && q.Ring.EventIdx && q.Ring.IndirectDescriptors));
    }

    [Fact]
    public void Features_the_device_did_not_offer_make_features_ok_fail()
    {
        using var rig = new MmioRig();
        rig.Driver.WriteStatus(DeviceStatus.Acknowledge | DeviceStatus.Driver);
        rig.Driver.WriteDriverFeatures(VirtioFeature.Version1 | (1UL << 5));
        rig.Driver.WriteStatus(DeviceStatus.Acknowledge | DeviceStatus.Driver | DeviceStatus.FeaturesOk);
        Assert.Equal(DeviceStatus.Acknowledge | DeviceStatus.Driver, rig.Driver.ReadStatus());
    }

    [Fact]
    public void A_driver_without_version_1_is_refused()
    {
        using var rig = new MmioRig();
        rig.Driver.WriteStatus(DeviceStatus.Acknowledge | DeviceStatus.Driver);
        rig.Driver.WriteDriverFeatures(EchoDevice.FeatureA);
        rig.Driver.WriteStatus(DeviceStatus.Acknowledge | DeviceStatus.Driver | DeviceStatus.FeaturesOk);
        Assert.Equal(0, (int)(rig.Driver.ReadStatus() & DeviceStatus.FeaturesOk));
    }

    [Fact]
    public void The_model_can_refuse_a_feature_combination()
    {
        using var rig = new MmioRig();
        rig.Device.RefuseFeatures = "A needs B";
        var e = Assert.Throws<InvalidOperationException>(() => rig.Driver.Probe(EchoDevice.FeatureA, 1));
        Assert.Contains("FEATURES_OK", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Driver_features_written_after_features_ok_are_ignored()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(EchoDevice.FeatureA, 1);
        rig.SetReg(R.DriverFeaturesSel, 0);
        Assert.False(rig.Mmio.Write(R.DriverFeatures, 4, (uint)EchoDevice.FeatureB));
        Assert.Equal(EchoDevice.FeatureA | VirtioFeature.Version1, rig.Device.DriverFeatures);
    }

    [Fact]
    public void Driver_ok_without_features_ok_does_not_activate()
    {
        using var rig = new MmioRig();
        rig.Driver.WriteStatus(DeviceStatus.Acknowledge | DeviceStatus.Driver | DeviceStatus.DriverOk);
        Assert.False(rig.Device.IsLive);
        Assert.Equal(DeviceStatus.Acknowledge | DeviceStatus.Driver, rig.Device.Status);
    }

    [Fact]
    public void The_driver_cannot_set_needs_reset()
    {
        using var rig = new MmioRig();
        rig.Driver.WriteStatus(DeviceStatus.Acknowledge | DeviceStatus.DeviceNeedsReset);
        Assert.Equal(DeviceStatus.Acknowledge, rig.Device.Status);
    }

    [Fact]
    public void One_round_trip_through_mmio_copies_the_payload_and_interrupts()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 1);
        ulong reply = rig.AddRequest(0, 42, [9, 8, 7, 6]);
        Assert.True(rig.Queue(0).Kick());
        Assert.Equal(InterruptReason.UsedBuffer, rig.Driver.TakeInterrupt());
        Assert.True(rig.Queue(0).TryGetBuffer(out int token, out uint length));
        Assert.Equal((42, 4u), (token, length));
        Assert.Equal([9, 8, 7, 6], rig.Memory.GetSpan(reply, 4).ToArray());
        Assert.Equal(1, rig.Device.Queues[0].Notifications);
    }

    [Fact]
    public void A_kick_before_driver_ok_is_served_when_the_device_becomes_live()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 1, driverOk: false);
        rig.AddRequest(0, 7, [1]);
        rig.Queue(0).Kick();
        Assert.False(rig.Queue(0).TryGetBuffer(out _, out _));
        rig.Driver.SetDriverOk();
        Assert.True(rig.Queue(0).TryGetBuffer(out int token, out _));
        Assert.Equal(7, token);
    }

    [Fact]
    public void Buffers_made_available_without_any_kick_before_driver_ok_are_served_too()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(VirtioFeature.RingEventIdx, 1, driverOk: false);
        rig.AddRequest(0, 7, [1]);
        rig.Queue(0).KickPrepare(); // publishes avail->idx; no notify
        rig.Driver.SetDriverOk();
        Assert.True(rig.Queue(0).TryGetBuffer(out _, out _));
    }

    [Fact]
    public void The_firecracker_fault_drops_an_early_kick_and_the_request_waits()
    {
        using var rig = new MmioRig();
        rig.Device.Queues[0].Ring.FaultPlan = new FaultAt(RingFaultPoint.DeviceDropKickBeforeActivation);
        rig.Driver.Probe(RingFeatures, 1, driverOk: false);
        rig.AddRequest(0, 7, [1]);
        rig.Queue(0).Kick();
        rig.Driver.SetDriverOk();
        rig.Device.ProcessPendingKicks();
        Assert.False(rig.Queue(0).TryGetBuffer(out _, out _));
        Assert.Equal(0, rig.Device.Queues[0].Ring.LastAvailIdx);
        Assert.Equal(1, rig.Device.Queues[0].Ring.ReadGuestFields(out GuestRingFields f) ? f.AvailIdx : -1);
    }

    [Fact]
    public void A_ring_violation_sets_needs_reset_raises_a_config_interrupt_and_stops_the_device()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 2, 8);
        var ring = rig.Device.Queues[0].Ring;
        // A hostile driver publishes a head outside the table.
        rig.Memory.GetSpan(ring.AvailRingAddress + 4, 2).Fill(0xff);
        rig.Memory.GetSpan(ring.AvailRingAddress + 2, 2)[0] = 1;
        rig.SetReg(R.QueueNotify, 0);
        Assert.True(rig.Device.IsBroken);
        Assert.Contains("Guest says index 65535 is available", rig.Device.BrokenReason, StringComparison.Ordinal);
        Assert.Equal(DeviceStatus.DeviceNeedsReset, rig.Driver.ReadStatus() & DeviceStatus.DeviceNeedsReset);
        Assert.Equal(InterruptReason.ConfigChange, rig.Driver.TakeInterrupt());

        // The other queue is stopped too (QEMU's vdev->broken).
        rig.AddRequest(1, 1, [1]);
        rig.Queue(1).Kick();
        Assert.Equal(0, rig.Device.Queues[1].Ring.LastAvailIdx);
    }

    [Fact]
    public void A_queue_size_that_is_not_a_power_of_two_breaks_the_device_when_made_ready()
    {
        using var rig = new MmioRig();
        rig.SetReg(R.QueueSel, 0);
        rig.SetReg(R.QueueNum, 24);
        Assert.False(rig.Mmio.Write(R.QueueReady, 4, 1));
        Assert.Equal(0u, rig.Reg(R.QueueReady));
        Assert.True(rig.Device.IsBroken);
        Assert.True((rig.Device.Status & DeviceStatus.DeviceNeedsReset) != 0);
    }

    [Fact]
    public void A_ring_outside_guest_memory_breaks_the_device_when_made_ready()
    {
        using var rig = new MmioRig();
        rig.SetReg(R.QueueSel, 0);
        rig.SetReg(R.QueueNum, 16);
        rig.SetReg(R.QueueDescHigh, 0x10);
        Assert.False(rig.Mmio.Write(R.QueueReady, 4, 1));
        Assert.Contains("Cannot map desc", rig.Device.BrokenReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Reset_returns_every_register_and_queue_to_its_initial_state_and_a_new_probe_works()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures | EchoDevice.FeatureA, 2, 64);
        rig.AddRequest(0, 1, [1]);
        rig.Queue(0).Kick();
        rig.Device.DeviceError("test");
        rig.SetReg(R.Status, 0);
        Assert.Equal(DeviceStatus.None, rig.Device.Status);
        Assert.Equal(0ul, rig.Device.DriverFeatures);
        Assert.Equal(InterruptReason.None, rig.Device.InterruptStatus);
        Assert.False(rig.Device.IsBroken);
        Assert.Null(rig.Device.BrokenReason);
        foreach (VirtioQueue q in rig.Device.Queues)
        {
            Assert.False(q.Ring.IsReady);
            Assert.Equal(default, q.Ring.GetState() with { NotificationEnabled = false });
            Assert.Equal(256, q.Ring.Size);
            Assert.Equal(0ul, q.Ring.DescriptorTableAddress);
        }

        using var driver2 = new Virtio.Driver.VirtioMmioGuestDriver<int>(rig.Mmio, rig.Memory, 0x200_0000, 0x100_0000);
        driver2.Probe(RingFeatures, 1);
        Assert.True(rig.Device.IsLive);
    }

    [Fact]
    public void Failed_stops_the_device()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 1);
        rig.Driver.WriteStatus(rig.Driver.ReadStatus() | DeviceStatus.Failed);
        Assert.False(rig.Device.IsLive);
        rig.AddRequest(0, 1, [1]);
        rig.Queue(0).Kick();
        Assert.False(rig.Queue(0).TryGetBuffer(out _, out _));
    }

    [Fact]
    public void Queue_ready_zero_takes_the_queue_down()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 1);
        rig.SetReg(R.QueueSel, 0);
        rig.SetReg(R.QueueReady, 0);
        Assert.Equal(0u, rig.Reg(R.QueueReady));
        Assert.False(rig.Device.Queues[0].Ring.IsReady);
    }
}
