using Virtio.Devices.Net;
using Virtio.Driver;
using Virtio.VhostUser.Net;
using Virtio.VhostUser.Tests.Support;

namespace Virtio.VhostUser.Tests;

/// <summary>virtio-net served over vhost-user (<see cref="VhostUserNet"/>), driven through this project's front-end.</summary>
public sealed class VhostUserNetTests
{
    private const ulong IndirectDesc = 1UL << 28;
    private const ulong ProtocolFeatures = 1UL << 30;
    private const int Buffer = 2048;

    [Fact]
    public void A_frame_crosses_the_loopback_through_the_shared_rings()
    {
        using var rig = new NetFrontEndRig(new LoopbackNetBackend());
        rig.PostRx(4, Buffer);
        byte[] frame = NetFrontEndRig.Frame(100, seed: 3);
        rig.Send(frame);
        Assert.Equal(frame, rig.Receive());
        Assert.Equal(0u, rig.NextUsed(1).Length); // the tx chain comes back, nothing written
        Assert.Equal(new NetStatistics(1, 100, 1, 100, 0), rig.Device.Statistics);
    }

    [Fact]
    public void GetFeatures_offers_only_the_data_path_features_the_device_implements()
    {
        using var rig = new NetFrontEndRig(new LoopbackNetBackend());
        ulong offered = rig.Backend.Device.DeviceFeatures;
        ulong expected = NetFrontEndRig.Version1 | NetFrontEndRig.EventIdx | IndirectDesc | NetFeature.MrgRxBuf | NetFeature.Offloads;
        Assert.Equal(expected, offered);
    }

    [Fact]
    public void Offloads_are_declined_when_the_backend_does_not_carry_the_header()
    {
        using var generator = new GeneratorNetBackend();
        using var rig = new NetFrontEndRig(generator);
        Assert.Equal(0ul, rig.Backend.Device.DeviceFeatures & NetFeature.Offloads);
    }

    [Fact]
    public void Negotiation_declines_the_control_and_config_features_that_the_front_end_keeps()
    {
        // QEMU's front-end asks for every bit of vhost_net's user_feature_bits; a C# VMM may ask for all 64.
        using var rig = new NetFrontEndRig(new LoopbackNetBackend(), wanted: ~0UL);
        ulong declined = NetFeature.CtrlVq | NetFeature.CtrlRx | NetFeature.Mac | NetFeature.Status | NetFeature.Mtu
            | NetFeature.GuestAnnounce | NetFeature.Mq | NetFeature.CtrlMacAddr
            | (1UL << 6) /* GSO */ | (1UL << 10) /* GUEST_UFO */ | (1UL << 14) /* HOST_UFO */ | (1UL << 34) /* RING_PACKED */
            | (1UL << 35) /* IN_ORDER */ | (1UL << 60) /* RSS */;
        Assert.Equal(0ul, rig.Features & declined);
        Assert.Equal(ProtocolFeatures | rig.Backend.Device.DeviceFeatures, rig.Features);
    }

    [Fact]
    public void SetFeatures_with_a_bit_the_device_did_not_offer_is_refused()
    {
        using var fe = new ScriptedFrontEnd(device: memory => new VirtioNetDevice(memory, new LoopbackNetBackend(), new VirtioNetDeviceOptions { ControlQueue = false }));
        ulong offered = fe.Get(VhostUserRequest.GetFeatures);
        Assert.Equal(0ul, offered & NetFeature.CtrlVq);
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetFeatures, ScriptedFrontEnd.U64(offered | NetFeature.CtrlVq)));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetFeatures, ScriptedFrontEnd.U64(offered)));
    }

    [Fact]
    public void SetVringEnable_before_SetFeatures_is_accepted_once_protocol_features_were_set()
    {
        // QEMU 7.2's vhost_net_start restores each ring's enable state before vhost_net_start_one sends SET_FEATURES.
        using var fe = new ScriptedFrontEnd(device: memory => new VirtioNetDevice(memory, new LoopbackNetBackend(), new VirtioNetDeviceOptions { ControlQueue = false }));
        Assert.NotEqual(0ul, fe.Get(VhostUserRequest.GetFeatures) & ProtocolFeatures);
        fe.Get(VhostUserRequest.GetProtocolFeatures);
        fe.Send(VhostUserRequest.SetProtocolFeatures, ScriptedFrontEnd.U64((ulong)VhostUserProtocolFeature.ReplyAck));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(0, 1)));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(1, 1)));
    }

    [Fact]
    public void The_same_region_added_by_each_queue_pairs_vhost_dev_is_mapped_once_and_kept_until_the_last_removal()
    {
        // QEMU's vhost-user net: one vhost_dev per queue pair on one connection, each adding the whole layout.
        using var fe = new ScriptedFrontEnd(device: memory => new VirtioNetDevice(memory, new LoopbackNetBackend(), new VirtioNetDeviceOptions { ControlQueue = false, MaxQueuePairs = 2 }));
        fe.Negotiate();
        byte[] region = new byte[40];
        ScriptedFrontEnd.MemTable((0, ScriptedFrontEnd.RamSize, fe.User(0), 0)).AsSpan(8).CopyTo(region.AsSpan(8));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.AddMemReg, region, [fe.RamFd.Value]));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.AddMemReg, region, [fe.RamFd.Value]));
        Assert.Single(fe.Backend.Memory.Regions);
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.RemMemReg, region, [fe.RamFd.Value]));
        Assert.Single(fe.Backend.Memory.Regions);
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.RemMemReg, region, [fe.RamFd.Value]));
        Assert.Empty(fe.Backend.Memory.Regions);
    }

    [Fact]
    public void GetQueueNum_counts_both_rings_of_every_queue_pair_and_MQ_is_offered_without_a_control_queue()
    {
        using var rig = new NetFrontEndRig(new LoopbackNetBackend(), queuePairs: 2);
        Assert.Equal(4, rig.FrontEnd.GetQueueNum());
        Assert.NotEqual(0ul, rig.Features & NetFeature.Mq);
        Assert.Equal(4, rig.Backend.Device.Queues.Count);
    }

    [Fact]
    public void Each_queue_pair_carries_its_own_frames()
    {
        using var rig = new NetFrontEndRig(new LoopbackNetBackend(), queuePairs: 2);
        rig.PostRx(2, Buffer, pair: 0);
        rig.PostRx(2, Buffer, pair: 1);
        byte[] first = NetFrontEndRig.Frame(80, seed: 1), second = NetFrontEndRig.Frame(90, seed: 2);
        rig.Send(first, pair: 0);
        rig.Send(second, pair: 1);
        Assert.Equal(first, rig.Receive(pair: 0));
        Assert.Equal(second, rig.Receive(pair: 1));
        Assert.Equal(new NetQueuePairStatistics(1, 80, 1, 80), rig.Device.QueuePairStatistics(0));
        Assert.Equal(new NetQueuePairStatistics(1, 90, 1, 90), rig.Device.QueuePairStatistics(1));
    }

    [Fact]
    public void An_rx_buffer_shorter_than_the_header_is_a_counted_drop_and_the_queue_keeps_working()
    {
        using var rig = new NetFrontEndRig(new LoopbackNetBackend());
        rig.PostRx(1, VirtioNetHeader.Size - 2);
        rig.Send(NetFrontEndRig.Frame(60, seed: 1));
        Assert.Equal(0u, rig.NextUsed(0).Length);
        Assert.Equal(1, rig.Device.Drops(NetDropReason.RxBufferShorterThanHeader));
        Assert.False(rig.Device.IsBroken);

        rig.PostRx(1, Buffer);
        byte[] frame = NetFrontEndRig.Frame(60, seed: 2);
        rig.Send(frame);
        Assert.Equal(frame, rig.Receive());
    }

    [Fact]
    public void A_tx_chain_that_is_all_header_is_a_counted_drop_and_the_queue_keeps_working()
    {
        using var rig = new NetFrontEndRig(new LoopbackNetBackend());
        rig.PostRx(1, Buffer);
        rig.Send([]);
        rig.NextUsed(1);
        Assert.Equal(1, rig.Device.Drops(NetDropReason.Runt));
        Assert.False(rig.Device.IsBroken);

        byte[] frame = NetFrontEndRig.Frame(64, seed: 5);
        rig.Send(frame);
        Assert.Equal(frame, rig.Receive());
    }

    [Fact]
    public void Frames_beyond_what_the_device_can_hold_are_counted_drops_and_the_queue_keeps_working()
    {
        using var rig = new NetFrontEndRig(new LoopbackNetBackend(), backlogFrames: 4);
        for (int i = 0; i < 10; i++)
        {
            rig.Send(NetFrontEndRig.Frame(60, seed: (byte)i)); // no rx buffers yet: four wait, six are dropped
        }

        for (int i = 0; i < 10; i++)
        {
            rig.NextUsed(1);
        }

        Assert.Equal(6, rig.Device.Drops(NetDropReason.BacklogFull));
        rig.PostRx(8, Buffer);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(NetFrontEndRig.Frame(60, seed: (byte)i), rig.Receive());
        }

        byte[] late = NetFrontEndRig.Frame(70, seed: 9);
        rig.Send(late);
        Assert.Equal(late, rig.Receive());
    }

    [Fact]
    public void Discard_copies_counts_and_drops_every_frame()
    {
        var discard = new DiscardNetBackend();
        using var rig = new NetFrontEndRig(discard);
        for (int i = 0; i < 3; i++)
        {
            rig.Send(NetFrontEndRig.Frame(100, seed: (byte)i));
        }

        for (int i = 0; i < 3; i++)
        {
            rig.NextUsed(1);
        }

        Assert.Equal((3L, 300L), (discard.Frames, discard.Bytes));
        Assert.Equal(3, rig.Device.Statistics.TxPackets);
    }

    [Fact]
    public void The_generator_fills_every_rx_buffer_the_driver_posts()
    {
        using var generator = new GeneratorNetBackend(frameSize: 128);
        using var rig = new NetFrontEndRig(generator);
        rig.PostRx(8, Buffer);
        for (int i = 0; i < 8; i++)
        {
            byte[] frame = rig.Receive();
            Assert.Equal(128, frame.Length);
            Assert.Equal(0x88b5, (frame[12] << 8) | frame[13]);
        }

        rig.PostRx(8, Buffer); // and the next ones, as fast as they come
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(128, rig.Receive().Length);
        }
    }

    [Fact]
    public void The_generator_fills_the_rx_buffers_of_every_queue_pair()
    {
        using var generator = new GeneratorNetBackend(frameSize: 100, queuePairs: 2);
        using var rig = new NetFrontEndRig(generator, queuePairs: 2);
        rig.PostRx(4, Buffer, pair: 0);
        rig.PostRx(4, Buffer, pair: 1);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(100, rig.Receive(pair: 0).Length);
            Assert.Equal(100, rig.Receive(pair: 1).Length);
        }

        Assert.True(rig.Device.QueuePairStatistics(0).RxPackets >= 4 && rig.Device.QueuePairStatistics(1).RxPackets >= 4);
    }

    [Fact]
    public void A_polling_device_takes_frames_the_driver_did_not_kick_for()
    {
        var discard = new DiscardNetBackend();
        using var rig = new NetFrontEndRig(discard, pollIdle: TimeSpan.FromSeconds(30));
        rig.Send(NetFrontEndRig.Frame(64, seed: 1)); // the kick that starts the polling spell
        rig.NextUsed(1);

        // EVENT_IDX: the polling device left avail_event behind, so the driver's kick decision says no kick.
        Assert.False(rig.SendWithoutKick(NetFrontEndRig.Frame(64, seed: 2)));
        rig.NextUsed(1);
        Assert.Equal(2, discard.Frames);
    }

    [Fact]
    public void A_polling_device_asks_for_kicks_again_once_idle()
    {
        var discard = new DiscardNetBackend();
        using var rig = new NetFrontEndRig(discard, pollIdle: TimeSpan.FromMilliseconds(50));
        rig.Send(NetFrontEndRig.Frame(64, seed: 1));
        rig.NextUsed(1);

        // The spell ends after 50 ms without frames: avail_event moves to avail->idx again (notifications on).
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (rig.Backend.PollSpells == 0)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), "the polling spell never ended");
            Thread.Yield();
        }

        Assert.True(rig.Device.Queues[1].Ring.NotificationEnabled);
        Assert.False(rig.Device.Queues[1].Polled);
        Assert.True(rig.SendWithoutKick(NetFrontEndRig.Frame(64, seed: 2)));
        rig.Queue(1).Notify();
        rig.NextUsed(1);
    }

    [Theory]
    [InlineData("loopback", NetBackendKind.Loopback)]
    [InlineData("discard", NetBackendKind.Discard)]
    [InlineData("stream:/tmp/n.sock", NetBackendKind.Stream)]
    [InlineData("stream-listen:/tmp/n.sock", NetBackendKind.StreamListen)]
    [InlineData("generator", NetBackendKind.Generator)]
    [InlineData("generator:1518", NetBackendKind.Generator)]
    public void A_backend_spec_names_its_backend(string text, NetBackendKind kind)
    {
        Assert.Null(NetBackendSpec.TryParse(text, out NetBackendSpec? spec));
        Assert.Equal(kind, spec!.Kind);
        Assert.Equal(text == "generator" ? "generator:60" : text, spec.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("tap")]
    [InlineData("stream")]
    [InlineData("stream:")]
    [InlineData("loopback:x")]
    [InlineData("generator:13")]
    [InlineData("generator:65551")]
    [InlineData("generator:-1")]
    public void A_bad_backend_spec_says_why(string text)
    {
        Assert.NotNull(NetBackendSpec.TryParse(text, out NetBackendSpec? spec));
        Assert.Null(spec);
    }

    [Fact]
    public void Serving_discard_allocates_nothing_per_frame()
    {
        var discard = new DiscardNetBackend();
        using var rig = new NetFrontEndRig(discard);
        SendAndReclaim(rig, 64); // warm up: JIT, first-use paths
        long before = rig.Backend.KickThreadAllocatedBytes;
        SendAndReclaim(rig, 512);
        Assert.Equal(before, rig.Backend.KickThreadAllocatedBytes);
    }

    private static void SendAndReclaim(NetFrontEndRig rig, int frames)
    {
        byte[] frame = NetFrontEndRig.Frame(64, seed: 0);
        for (int i = 0; i < frames; i++)
        {
            rig.Send(frame);
            rig.NextUsed(1);
        }
    }
}
