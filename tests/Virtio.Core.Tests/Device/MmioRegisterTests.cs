using Virtio.Core.Tests.Support;
using Virtio.Device;
using Virtio.Transport;
using R = Virtio.Transport.VirtioMmioRegister;

namespace Virtio.Core.Tests.Device;

/// <summary>The virtio-mmio register file (VIRTIO 1.x 4.2.2), read and written as a guest does.</summary>
public class MmioRegisterTests
{
    [Fact]
    public void Identification_registers_read_magic_version_device_and_vendor()
    {
        using var rig = new MmioRig();
        Assert.Equal(0x74726976u, rig.Reg(R.MagicValue));
        Assert.Equal(2u, rig.Reg(R.Version));
        Assert.Equal(EchoDevice.Id, rig.Reg(R.DeviceId));
        Assert.Equal(VirtioMmioTransport.DefaultVendorId, rig.Reg(R.VendorId));
    }

    [Fact]
    public void Device_features_are_read_32_bits_at_a_time_by_selector()
    {
        using var rig = new MmioRig();
        rig.SetReg(R.DeviceFeaturesSel, 0);
        uint low = (uint)rig.Reg(R.DeviceFeatures);
        rig.SetReg(R.DeviceFeaturesSel, 1);
        uint high = (uint)rig.Reg(R.DeviceFeatures);
        rig.SetReg(R.DeviceFeaturesSel, 2);
        Assert.Equal(0u, rig.Reg(R.DeviceFeatures));
        Assert.Equal(rig.Device.DeviceFeatures, ((ulong)high << 32) | low);
        Assert.Equal(1u, high & 1); // VERSION_1
        Assert.Equal(EchoDevice.FeatureA | EchoDevice.FeatureB | VirtioFeature.RingEventIdx | VirtioFeature.RingIndirectDesc, (ulong)low);
    }

    [Theory]
    [InlineData(R.DeviceFeaturesSel)]
    [InlineData(R.DriverFeatures)]
    [InlineData(R.QueueSel)]
    [InlineData(R.QueueNum)]
    [InlineData(R.QueueNotify)]
    [InlineData(R.InterruptAck)]
    public void Reading_a_write_only_register_returns_zero_and_is_counted(int register)
    {
        using var rig = new MmioRig();
        rig.SetReg(R.QueueSel, 0);
        Assert.Equal(0u, rig.Reg(register));
        Assert.True(rig.Mmio.BadAccesses >= 1);
    }

    [Theory]
    [InlineData(R.MagicValue)]
    [InlineData(R.Version)]
    [InlineData(R.DeviceId)]
    [InlineData(R.DeviceFeatures)]
    [InlineData(R.QueueNumMax)]
    [InlineData(R.InterruptStatus)]
    [InlineData(R.ConfigGeneration)]
    public void Writing_a_read_only_register_is_refused_and_changes_nothing(int register)
    {
        using var rig = new MmioRig();
        ulong before = rig.Reg(register);
        Assert.False(rig.Mmio.Write((ulong)register, 4, 0xdead_beef));
        Assert.Equal(before, rig.Reg(register));
        Assert.Equal(1, rig.Mmio.BadAccesses);
    }

    [Theory]
    [InlineData(R.Status, 1)]
    [InlineData(R.Status, 2)]
    [InlineData(R.Status, 8)]
    [InlineData(R.Status + 1, 4)]
    [InlineData(R.QueueNotify + 2, 2)]
    public void Wrong_width_or_misaligned_register_access_is_ignored(int offset, int size)
    {
        using var rig = new MmioRig();
        Assert.Equal(0ul, rig.Mmio.Read((ulong)offset, size));
        Assert.False(rig.Mmio.Write((ulong)offset, size, 0x3));
        Assert.Equal(DeviceStatus.None, rig.Device.Status);
        Assert.Equal(2, rig.Mmio.BadAccesses);
    }

    [Fact]
    public void Unknown_register_offsets_read_zero_and_ignore_writes()
    {
        using var rig = new MmioRig();
        Assert.Equal(0ul, rig.Mmio.Read(0x0e0, 4));
        Assert.False(rig.Mmio.Write(0x0e0, 4, 1));
        Assert.Equal(2, rig.Mmio.BadAccesses);
    }

    [Fact]
    public void Shared_memory_regions_do_not_exist()
    {
        using var rig = new MmioRig();
        rig.SetReg(R.ShmSel, 0);
        Assert.Equal(uint.MaxValue, rig.Reg(R.ShmLenLow));
        Assert.Equal(uint.MaxValue, rig.Reg(R.ShmLenHigh));
    }

    [Fact]
    public void Queue_num_max_is_zero_for_a_queue_that_does_not_exist()
    {
        using var rig = new MmioRig(queues: 2);
        rig.SetReg(R.QueueSel, 1);
        Assert.Equal(256u, rig.Reg(R.QueueNumMax));
        rig.SetReg(R.QueueSel, 2);
        Assert.Equal(0u, rig.Reg(R.QueueNumMax));
        Assert.False(rig.Mmio.Write(R.QueueNum, 4, 16));
        Assert.False(rig.Mmio.Write(R.QueueReady, 4, 1));
        Assert.False(rig.Mmio.Write(R.QueueNotify, 4, 2));
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(512u)]
    public void Queue_num_of_zero_or_above_the_maximum_is_ignored(uint num)
    {
        using var rig = new MmioRig();
        rig.SetReg(R.QueueSel, 0);
        rig.SetReg(R.QueueNum, 64);
        Assert.False(rig.Mmio.Write(R.QueueNum, 4, num));
        Assert.Equal(64, rig.Device.Queues[0].Ring.Size);
    }

    [Fact]
    public void Queue_registers_written_while_the_queue_is_ready_are_refused()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(VirtioFeature.RingEventIdx, 1, 64);
        var ring = rig.Device.Queues[0].Ring;
        ulong desc = ring.DescriptorTableAddress;
        rig.SetReg(R.QueueSel, 0);
        Assert.False(rig.Mmio.Write(R.QueueNum, 4, 32));
        Assert.False(rig.Mmio.Write(R.QueueDescLow, 4, 0x5000));
        Assert.False(rig.Mmio.Write(R.QueueDeviceHigh, 4, 1));
        Assert.Equal(64, ring.Size);
        Assert.Equal(desc, ring.DescriptorTableAddress);
        Assert.True(ring.IsReady);
    }

    [Fact]
    public void Queue_addresses_are_assembled_from_low_and_high_halves_and_read_back()
    {
        using var rig = new MmioRig();
        rig.SetReg(R.QueueSel, 1);
        rig.SetReg(R.QueueDescLow, 0x1000);
        rig.SetReg(R.QueueDescHigh, 0x2);
        rig.SetReg(R.QueueDriverLow, 0x3000);
        rig.SetReg(R.QueueDeviceLow, 0x4000);
        rig.SetReg(R.QueueDeviceHigh, 0x5);
        var ring = rig.Device.Queues[1].Ring;
        Assert.Equal(0x2_0000_1000ul, ring.DescriptorTableAddress);
        Assert.Equal(0x3000ul, ring.AvailRingAddress);
        Assert.Equal(0x5_0000_4000ul, ring.UsedRingAddress);
        Assert.Equal(0x2u, rig.Reg(R.QueueDescHigh));
        Assert.Equal(0x4000u, rig.Reg(R.QueueDeviceLow));
    }

    [Fact]
    public void Config_space_is_read_at_any_width_and_past_its_end_reads_zero()
    {
        using var rig = new MmioRig();
        Assert.Equal(0xABul, rig.Mmio.Read(R.Config, 1));
        Assert.Equal(0xABul, rig.Mmio.Read(R.Config, 4));
        Assert.Equal(0ul, rig.Mmio.Read(R.Config + 64, 4));
        Assert.Equal(0ul, rig.Mmio.Read(R.Config, 3));
    }

    [Fact]
    public void Config_writes_change_only_fields_the_device_makes_writable()
    {
        using var rig = new MmioRig();
        Assert.True(rig.Mmio.Write(R.Config + 4, 1, 0x5a));
        Assert.Equal(0x5a, rig.Device.WritableConfigByte);
        Assert.False(rig.Mmio.Write(R.Config + 0, 1, 0x11));
        Assert.Equal(0xABul, rig.Mmio.Read(R.Config, 1));
        Assert.False(rig.Mmio.Write(R.Config + 8, 1, 0x11));
    }

    [Fact]
    public void Config_change_bumps_the_generation_and_interrupts_a_live_driver()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(0, 1);
        uint gen = (uint)rig.Reg(R.ConfigGeneration);
        rig.Device.SetConfigByte(1, 7);
        Assert.Equal(gen + 1, (uint)rig.Reg(R.ConfigGeneration));
        Assert.Equal(InterruptReason.ConfigChange, rig.Driver.TakeInterrupt());
        Span<byte> b = stackalloc byte[2];
        rig.Driver.ReadConfig(0, b);
        Assert.Equal([0xAB, 7], b.ToArray());
    }

    [Fact]
    public void Interrupt_ack_clears_only_the_acknowledged_bits()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(VirtioFeature.RingEventIdx, 1);
        rig.AddRequest(0, 1, [1, 2, 3]);
        rig.Queue(0).Kick();
        rig.Device.SetConfigByte(1, 1);
        Assert.Equal(3u, rig.Reg(R.InterruptStatus));
        rig.SetReg(R.InterruptAck, 1);
        Assert.Equal(2u, rig.Reg(R.InterruptStatus));
        rig.SetReg(R.InterruptAck, 2);
        Assert.Equal(0u, rig.Reg(R.InterruptStatus));
    }

    [Fact]
    public void Byte_span_accessors_match_the_integer_ones()
    {
        using var rig = new MmioRig();
        Span<byte> data = stackalloc byte[4];
        rig.Mmio.Read(R.MagicValue, data);
        Assert.Equal("virt"u8.ToArray(), data.ToArray());
        Assert.True(rig.Mmio.Write(R.Status, [1, 0, 0, 0]));
        Assert.Equal(DeviceStatus.Acknowledge, rig.Device.Status);
        Assert.False(rig.Mmio.Write(R.Status, [1, 0, 0]));
    }

    [Fact]
    public void Driver_features_word_above_1_is_refused()
    {
        using var rig = new MmioRig();
        rig.SetReg(R.DriverFeaturesSel, 2);
        Assert.False(rig.Mmio.Write(R.DriverFeatures, 4, 1));
        Assert.Equal(0ul, rig.Device.DriverFeatures);
        Assert.Equal(1, rig.Mmio.BadAccesses);
    }

    [Fact]
    public void Queue_address_for_a_queue_that_does_not_exist_is_refused()
    {
        using var rig = new MmioRig(queues: 2);
        rig.SetReg(R.QueueSel, 2);
        long before = rig.Mmio.BadAccesses;
        Assert.False(rig.Mmio.Write(R.QueueDescLow, 4, 0x1000));
        Assert.Equal(before + 1, rig.Mmio.BadAccesses);
    }

    [Fact]
    public void Queue_descriptor_table_address_reads_back_as_written()
    {
        using var rig = new MmioRig();
        rig.SetReg(R.QueueSel, 1);
        rig.SetReg(R.QueueDescLow, 0x1000);
        Assert.Equal(0x1000ul, rig.Reg(R.QueueDescLow));
    }
}
