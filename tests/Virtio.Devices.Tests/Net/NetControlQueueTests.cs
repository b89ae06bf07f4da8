using System.Buffers.Binary;
using System.Net.NetworkInformation;
using Virtio.Device;
using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Net;

/// <summary>The control virtqueue (section 5.1.6.5): rx mode, MAC tables and address, announce, queue pairs, errors.</summary>
public class NetControlQueueTests
{
    private const byte Ok = 0;
    private const byte Err = 1;
    private const byte ClassRx = 0;
    private const byte ClassMac = 1;
    private const byte ClassAnnounce = 3;
    private const byte ClassMq = 4;

    private static readonly byte[] Own = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    private static readonly byte[] Other = [0x52, 0x54, 0x00, 0x99, 0x99, 0x99];
    private static readonly byte[] Multicast = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01];
    private static readonly byte[] Broadcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

    [Fact]
    public void Promiscuous_is_on_after_reset_and_off_filters_unicast_for_others()
    {
        using var rig = new NetRig();
        rig.PostRx(16, 1536);
        Assert.True(rig.Device.Promiscuous);
        Assert.Equal(1, Deliver(rig, Other));

        Assert.Equal((byte?)Ok, rig.Control(ClassRx, 0, [0]));
        Assert.False(rig.Device.Promiscuous);
        Assert.Equal(0, Deliver(rig, Other));
        Assert.Equal(1, Deliver(rig, Own));
        Assert.Equal(1, Deliver(rig, Broadcast));
        Assert.Equal(0, Deliver(rig, Multicast));
        Assert.Equal(2, rig.Device.Drops(NetDropReason.Filtered));

        Assert.Equal((byte?)Ok, rig.Control(ClassRx, 1, [1])); // ALLMULTI on
        Assert.True(rig.Device.AllMulticast);
        Assert.Equal(1, Deliver(rig, Multicast));

        rig.Driver.Probe(NetRig.AllFeatures, rig.Device.Queues.Count, 256); // reset: promiscuous again
        Assert.True(rig.Device.Promiscuous);
        Assert.False(rig.Device.AllMulticast);
    }

    [Theory]
    [InlineData(0, new byte[] { })]
    [InlineData(0, new byte[] { 1, 1 })]
    [InlineData(2, new byte[] { 1 })] // ALLUNI needs CTRL_RX_EXTRA
    [InlineData(5, new byte[] { 1 })]
    public void A_malformed_or_unoffered_rx_mode_command_answers_err(byte command, byte[] data)
    {
        using var rig = new NetRig();
        Assert.Equal((byte?)Err, rig.Control(ClassRx, command, data));
        Assert.True(rig.Device.Promiscuous);
        Assert.False(rig.NeedsReset);
    }

    [Fact]
    public void Rx_mode_commands_answer_err_without_ctrl_rx()
    {
        using var rig = new NetRig(features: NetRig.AllFeatures & ~NetFeature.CtrlRx);
        Assert.Equal((byte?)Err, rig.Control(ClassRx, 0, [0]));
        Assert.True(rig.Device.Promiscuous);
    }

    [Fact]
    public void The_mac_table_admits_the_listed_addresses()
    {
        using var rig = new NetRig();
        rig.PostRx(16, 1536);
        Assert.Equal((byte?)Ok, rig.Control(ClassRx, 0, [0]));
        Assert.Equal((byte?)Ok, rig.Control(ClassMac, 0, Table([Other], [Multicast])));
        Assert.Equal(1, Deliver(rig, Other));
        Assert.Equal(1, Deliver(rig, Multicast));
        Assert.Equal(0, Deliver(rig, [0x52, 0x54, 0x00, 0x77, 0x77, 0x77]));

        Assert.Equal((byte?)Ok, rig.Control(ClassMac, 0, Table([], [])));
        Assert.Equal(0, Deliver(rig, Other));
        Assert.Equal(1, Deliver(rig, Own));
    }

    [Fact]
    public void A_mac_table_longer_than_64_entries_accepts_every_address_of_its_kind()
    {
        using var rig = new NetRig();
        rig.PostRx(16, 1536);
        Assert.Equal((byte?)Ok, rig.Control(ClassRx, 0, [0]));
        byte[][] many = [.. Enumerable.Range(0, 65).Select(i => new byte[] { 0x52, 0, 0, 0, 1, (byte)i })];
        Assert.Equal((byte?)Ok, rig.Control(ClassMac, 0, Table(many, [])));
        Assert.Equal(1, Deliver(rig, [0x52, 0x54, 0x00, 0x77, 0x77, 0x77]));
        Assert.Equal(0, Deliver(rig, Multicast));
    }

    public static TheoryData<string, byte[]> MalformedTables => new()
    {
        { "empty", [] },
        { "unicast count only", [1, 0, 0, 0] },
        { "entries past the data", [.. Le32(2), .. Other, .. Le32(0)] },
        { "trailing bytes", [.. Le32(0), .. Le32(0), 9] },
        { "huge count", [.. Le32(0xffff_ffff), .. Le32(0)] },
        { "missing multicast table", [.. Le32(1), .. Other] },
    };

    [Theory]
    [MemberData(nameof(MalformedTables))]
    public void A_malformed_mac_table_answers_err_and_changes_nothing(string what, byte[] data)
    {
        using var rig = new NetRig();
        rig.PostRx(4, 1536);
        Assert.Equal((byte?)Ok, rig.Control(ClassRx, 0, [0]));
        Assert.True(rig.Control(ClassMac, 0, data) == Err, what);
        Assert.Equal(0, Deliver(rig, Other));
        Assert.False(rig.NeedsReset);
    }

    [Fact]
    public void Mac_addr_set_changes_config_and_the_unicast_filter()
    {
        using var rig = new NetRig();
        rig.PostRx(8, 1536);
        Assert.Equal((byte?)Ok, rig.Control(ClassRx, 0, [0]));
        Assert.Equal((byte?)Ok, rig.Control(ClassMac, 1, Other));
        Assert.Equal(Other, rig.ConfigMac());
        Assert.Equal(new PhysicalAddress(Other), rig.Device.MacAddress);
        Assert.Equal(1, Deliver(rig, Other));
        Assert.Equal(0, Deliver(rig, Own));

        Assert.Equal((byte?)Err, rig.Control(ClassMac, 1, [1, 2, 3]));
        Assert.Equal(Other, rig.ConfigMac());

        rig.Driver.Probe(NetRig.AllFeatures, rig.Device.Queues.Count, 256); // reset restores the configured MAC
        Assert.Equal(Own, rig.ConfigMac());
    }

    [Fact]
    public void Mac_addr_set_answers_err_without_ctrl_mac_addr()
    {
        using var rig = new NetRig(features: NetRig.AllFeatures & ~NetFeature.CtrlMacAddr);
        Assert.Equal((byte?)Err, rig.Control(ClassMac, 1, Other));
        Assert.Equal(Own, rig.ConfigMac());
    }

    [Fact]
    public void Announce_sets_the_status_bit_with_a_config_interrupt_and_the_ack_clears_it()
    {
        using var rig = new NetRig();
        Assert.Equal((byte?)Err, rig.Control(ClassAnnounce, 0, [])); // nothing to acknowledge yet
        rig.Driver.TakeInterrupt();
        Assert.True(rig.Device.Announce());
        Assert.Equal(InterruptReason.ConfigChange, rig.Driver.TakeInterrupt() & InterruptReason.ConfigChange);
        Assert.Equal((ushort)(NetConfigStatus.LinkUp | NetConfigStatus.Announce), rig.ConfigU16(6));

        Assert.Equal((byte?)Ok, rig.Control(ClassAnnounce, 0, []));
        Assert.Equal((ushort)NetConfigStatus.LinkUp, rig.ConfigU16(6));
        Assert.Equal((byte?)Err, rig.Control(ClassAnnounce, 0, []));
    }

    [Fact]
    public void Announce_is_refused_when_the_driver_did_not_negotiate_it()
    {
        using var rig = new NetRig(features: NetRig.AllFeatures & ~NetFeature.GuestAnnounce);
        Assert.False(rig.Device.Announce());
        Assert.Equal((ushort)NetConfigStatus.LinkUp, rig.ConfigU16(6));
    }

    [Theory]
    [InlineData(new byte[] { 2, 0 }, Ok, 2)]
    [InlineData(new byte[] { 1, 0 }, Ok, 1)]
    [InlineData(new byte[] { 3, 0 }, Err, 1)] // more than max_virtqueue_pairs
    [InlineData(new byte[] { 0, 0 }, Err, 1)]
    [InlineData(new byte[] { 2 }, Err, 1)]
    [InlineData(new byte[] { 2, 0, 0 }, Err, 1)]
    public void Vq_pairs_set_takes_1_to_max_pairs(byte[] data, byte ack, int active)
    {
        using var rig = new NetRig(netOptions: new VirtioNetDeviceOptions { MaxQueuePairs = 2 });
        Assert.Equal((byte?)ack, rig.Control(ClassMq, 0, data));
        Assert.Equal(active, rig.Device.ActiveQueuePairs);
    }

    [Theory]
    [InlineData(2, 0)] // VLAN: CTRL_VLAN not offered
    [InlineData(5, 0)] // guest offloads: CTRL_GUEST_OFFLOADS not offered
    [InlineData(4, 1)] // MQ RSS_CONFIG: RSS not offered
    [InlineData(200, 7)]
    public void Unknown_or_unoffered_commands_answer_err(byte @class, byte command)
    {
        using var rig = new NetRig(netOptions: new VirtioNetDeviceOptions { MaxQueuePairs = 2 });
        Assert.Equal((byte?)Err, rig.Control(@class, command, [1, 0, 0, 0]));
        Assert.False(rig.NeedsReset);
    }

    /// <summary>Sends one 60-byte frame to <paramref name="destination"/> through loopback; returns the frames the guest got.</summary>
    private static int Deliver(NetRig rig, byte[] destination)
    {
        rig.Send(NetRig.Frame(60, destination: destination));
        rig.ReclaimTx();
        List<RxFrame> got = rig.Receive();
        Assert.All(got, g => Assert.Equal(destination, g.Frame.AsSpan(0, 6).ToArray()));
        if (got.Count > 0)
        {
            rig.PostRx(got.Count, 1536);
        }

        return got.Count;
    }

    private static byte[] Le32(uint value)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return b;
    }

    private static byte[] Table(byte[][] unicast, byte[][] multicast) =>
        [.. Le32((uint)unicast.Length), .. unicast.SelectMany(m => m), .. Le32((uint)multicast.Length), .. multicast.SelectMany(m => m)];
}
