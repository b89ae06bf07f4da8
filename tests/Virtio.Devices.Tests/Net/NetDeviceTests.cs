using System.Buffers.Binary;
using System.Net.NetworkInformation;
using Virtio.Device;
using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Net;

/// <summary>virtio-net through virtio-mmio and the guest driver: config, tx and rx over loopback, MRG_RXBUF, the backlog.</summary>
public class NetDeviceTests
{
    private const ulong NoMergeable = NetRig.AllFeatures & ~NetFeature.MrgRxBuf;

    /// <summary>Linux's mergeable rx buffer: 1536 bytes.</summary>
    private const int MrgBuffer = 1536;

    /// <summary>Linux's "big packets" rx chain without MRG_RXBUF: header + 64 KiB in many descriptors.</summary>
    private const int BigChain = VirtioNetHeader.Size + VirtioNetDevice.MaxFrameLength;

    [Fact]
    public void Config_reports_mac_link_status_queue_pairs_and_mtu()
    {
        using var rig = new NetRig(netOptions: new VirtioNetDeviceOptions { Mtu = 9000, MaxQueuePairs = 2, MacAddress = PhysicalAddress.Parse("02-00-00-aa-bb-cc") });
        Assert.Equal(new byte[] { 0x02, 0, 0, 0xaa, 0xbb, 0xcc }, rig.ConfigMac());
        Assert.Equal((ushort)NetConfigStatus.LinkUp, rig.ConfigU16(6));
        Assert.Equal(2, rig.ConfigU16(8));
        Assert.Equal(9000, rig.ConfigU16(10));
        Assert.Equal(5, rig.Device.Queues.Count); // rx0 tx0 rx1 tx1 ctrl
        Assert.NotEqual(0ul, rig.Device.DriverFeatures & NetFeature.Mq);
        Assert.NotEqual(0ul, rig.Device.DriverFeatures & VirtioFeature.Version1);
    }

    [Fact]
    public void Only_the_rx_queues_pop_on_demand()
    {
        using var rig = new NetRig(netOptions: new VirtioNetDeviceOptions { MaxQueuePairs = 2 });
        Assert.Equal([true, false, true, false, false], Enumerable.Range(0, 5).Select(rig.Device.PopsOnDemand));
    }

    [Fact]
    public void Without_mtu_or_queue_pairs_the_features_are_not_offered()
    {
        using var rig = new NetRig();
        Assert.Equal(0ul, rig.Device.DeviceFeatures & (NetFeature.Mtu | NetFeature.Mq));
        Assert.Equal(3, rig.Device.Queues.Count);
    }

    [Theory]
    [InlineData(14, TxLayout.HeaderWithFrame, true)]
    [InlineData(60, TxLayout.HeaderApart, true)]
    [InlineData(1514, TxLayout.HeaderSplit, true)]
    [InlineData(1524, TxLayout.HeaderWithFrame, true)] // header + frame exactly fill one 1536-byte buffer
    [InlineData(1525, TxLayout.HeaderWithFrame, true)] // one byte into a second buffer
    [InlineData(9000, TxLayout.HeaderApart, true)]
    [InlineData(65550, TxLayout.HeaderSplit, true)]
    [InlineData(14, TxLayout.HeaderApart, false)]
    [InlineData(1514, TxLayout.HeaderWithFrame, false)]
    [InlineData(9000, TxLayout.HeaderSplit, false)]
    [InlineData(65550, TxLayout.HeaderWithFrame, false)]
    public void A_frame_sent_comes_back_intact_through_loopback(int length, TxLayout layout, bool mergeable)
    {
        using var rig = new NetRig(features: mergeable ? NetRig.AllFeatures : NoMergeable);
        if (mergeable)
        {
            rig.PostRx(64, MrgBuffer);
        }
        else
        {
            rig.PostRx(4, BigChain, segments: 17);
        }

        byte[] frame = NetRig.Frame(length, seed: length);
        rig.Send(frame, layout: layout, frameSegments: 3);

        Assert.Equal(1, rig.ReclaimTx());
        RxFrame got = Assert.Single(rig.Receive());
        Assert.Equal(frame, got.Frame);
        int expectedBuffers = mergeable ? (VirtioNetHeader.Size + length + MrgBuffer - 1) / MrgBuffer : 1;
        Assert.Equal(expectedBuffers, got.Buffers);
        Assert.Equal(expectedBuffers, got.Header.BufferCount);
        Assert.Equal(new NetStatistics(1, length, 1, length, 0), rig.Device.Statistics);
        Assert.False(rig.NeedsReset);
    }

    [Theory]
    [InlineData(TxLayout.HeaderWithFrame, 1)] // one buffer: handed to the backend in place
    [InlineData(TxLayout.HeaderApart, 2)] // gathered
    public void A_frame_the_backend_refuses_is_held_and_sent_intact_when_it_is_ready(TxLayout layout, int frameSegments)
    {
        var backend = new FakeNetBackend { CarriesHeader = true };
        using var rig = new NetRig(backend);
        byte[] first = NetRig.Frame(100, seed: 1), second = NetRig.Frame(200, seed: 2);
        backend.BusyNext(1);
        rig.Send(first, layout: layout, frameSegments: frameSegments);
        rig.Send(second, layout: layout, frameSegments: frameSegments);
        Assert.Empty(backend.Sent);
        Assert.Equal(0, rig.ReclaimTx()); // held, not completed: the queue waits for the backend

        backend.Sink!.TransmitReady();
        Assert.Equal([first, second], backend.Sent);
        Assert.Equal(2, rig.ReclaimTx());
        Assert.Equal(2, rig.Device.Statistics.TxPackets);
    }

    [Fact]
    public void Mergeable_frames_span_multi_descriptor_chains_and_keep_their_order()
    {
        using var rig = new NetRig();
        rig.PostRx(200, 300, segments: 3); // 3 x 100-byte descriptors per chain
        byte[][] frames = [.. Enumerable.Range(0, 20).Select(i => NetRig.Frame(14 + (i * 97), seed: i))];
        foreach (byte[] f in frames)
        {
            rig.Send(f, frameSegments: 2);
        }

        List<RxFrame> got = rig.Receive();
        Assert.Equal(frames, got.Select(g => g.Frame));
        Assert.Equal(frames.Select(f => (f.Length + VirtioNetHeader.Size + 299) / 300), got.Select(g => g.Buffers));
        Assert.Equal(20, rig.ReclaimTx());
    }

    [Fact]
    public void Without_mrg_rxbuf_a_frame_larger_than_the_chain_is_dropped_and_the_buffer_reused()
    {
        using var rig = new NetRig(features: NoMergeable);
        rig.PostRx(1, 1000);
        rig.Send(NetRig.Frame(1514, seed: 1));
        Assert.Empty(rig.Receive());
        Assert.Equal(1, rig.Device.Drops(NetDropReason.RxBufferTooSmall));
        Assert.Equal(0, rig.Device.BacklogCount(0));

        byte[] small = NetRig.Frame(100, seed: 2);
        rig.Send(small);
        Assert.Equal(small, Assert.Single(rig.Receive()).Frame);
        Assert.Equal(2, rig.ReclaimTx());
        Assert.False(rig.NeedsReset);
    }

    [Fact]
    public void Frames_wait_in_the_backlog_without_rx_buffers_and_arrive_in_order_after_a_kick()
    {
        using var rig = new NetRig();
        byte[][] frames = [.. Enumerable.Range(0, 10).Select(i => NetRig.Frame(60 + i, seed: i))];
        foreach (byte[] f in frames)
        {
            rig.Send(f);
        }

        Assert.Equal(10, rig.ReclaimTx()); // the wire took them: tx completes without rx buffers
        Assert.Empty(rig.Receive());
        Assert.Equal(10, rig.Device.BacklogCount(0));

        rig.PostRx(3, MrgBuffer); // some buffers: that many frames, the rest keep waiting
        Assert.Equal(frames[..3], rig.Receive().Select(g => g.Frame));
        Assert.Equal(7, rig.Device.BacklogCount(0));

        rig.PostRx(16, MrgBuffer);
        Assert.Equal(frames[3..], rig.Receive().Select(g => g.Frame));
        Assert.Equal(0, rig.Device.BacklogCount(0));
        Assert.Equal(0, rig.Device.Statistics.Dropped);
    }

    [Fact]
    public void Buffers_added_without_a_kick_are_not_seen_until_the_kick()
    {
        using var rig = new NetRig();
        rig.Send(NetRig.Frame(60));
        rig.PostRx(4, MrgBuffer, kick: false);
        Assert.Empty(rig.Receive());
        rig.Rx().Kick();
        Assert.Single(rig.Receive());
    }

    [Fact]
    public void A_full_backlog_drops_and_counts_the_excess()
    {
        using var rig = new NetRig(netOptions: new VirtioNetDeviceOptions { BacklogFrames = 4 });
        byte[][] frames = [.. Enumerable.Range(0, 6).Select(i => NetRig.Frame(60, seed: i))];
        foreach (byte[] f in frames)
        {
            rig.Send(f);
        }

        Assert.Equal(2, rig.Device.Drops(NetDropReason.BacklogFull));
        rig.PostRx(8, MrgBuffer);
        Assert.Equal(frames[..4], rig.Receive().Select(g => g.Frame));
        Assert.Equal(new NetStatistics(6, 360, 4, 240, 2), rig.Device.Statistics);
    }

    [Fact]
    public void A_tx_batch_longer_than_the_backlog_loses_nothing_when_rx_buffers_are_there()
    {
        // Loopback frames of one tx batch wait for one rx kick at its end; a full backlog places them early instead of dropping.
        using var rig = new NetRig(netOptions: new VirtioNetDeviceOptions { BacklogFrames = 4 });
        rig.PostRx(64, MrgBuffer);
        byte[][] frames = [.. Enumerable.Range(0, 40).Select(i => NetRig.Frame(60 + i, seed: i))];
        foreach (byte[] f in frames)
        {
            rig.Send(f, kick: false);
        }

        rig.Tx().Kick();
        Assert.Equal(frames, rig.Receive().Select(g => g.Frame));
        Assert.Equal(0, rig.Device.Statistics.Dropped);
        Assert.Equal(40, rig.ReclaimTx());
    }

    [Fact]
    public void With_worker_threads_frames_sent_from_one_thread_arrive_in_order_on_another()
    {
        using var rig = new NetRig(options: new VirtioDeviceOptions { Processing = QueueProcessing.Worker });
        const int count = 5000;
        int received = 0;
        var sender = new Thread(() =>
        {
            for (int i = 0; i < count; i++)
            {
                byte[] f = NetRig.Frame(64, seed: i);
                BinaryPrimitives.WriteInt32LittleEndian(f.AsSpan(14), i);
                // A window, as TCP would keep: never more frames on the wire than the backlog holds, so none is dropped.
                while (rig.Tx().NumFree < 2 || i - Volatile.Read(ref received) >= 200)
                {
                    rig.ReclaimTx();
                    Thread.Yield();
                }

                rig.Send(f);
            }
        });
        sender.Start();

        var got = new List<int>();
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (got.Count + rig.Device.Statistics.Dropped < count && DateTime.UtcNow < deadline)
        {
            if (rig.Rx().NumFree >= 64)
            {
                rig.PostRx(64, MrgBuffer);
            }

            got.AddRange(rig.Receive().Select(g => BinaryPrimitives.ReadInt32LittleEndian(g.Frame.AsSpan(14))));
            Volatile.Write(ref received, got.Count);
            Thread.Yield();
        }

        Assert.True(sender.Join(TimeSpan.FromSeconds(30)));
        Assert.Equal(Enumerable.Range(0, count), got);
        Assert.Equal(new NetStatistics(count, 64L * count, count, 64L * count, 0), rig.Device.Statistics);
    }

    [Fact]
    public void A_mergeable_frame_waits_until_enough_buffers_for_all_of_it()
    {
        using var rig = new NetRig();
        byte[] frame = NetRig.Frame(5000, seed: 9);
        rig.PostRx(2, MrgBuffer); // 3072 bytes: not enough for 5012
        rig.Send(frame);
        Assert.Empty(rig.Receive());
        Assert.Equal(1, rig.Device.BacklogCount(0));
        rig.PostRx(2, MrgBuffer);
        RxFrame got = Assert.Single(rig.Receive());
        Assert.Equal(frame, got.Frame);
        Assert.Equal(4, got.Buffers);
    }

    [Fact]
    public void Reset_purges_the_backlog_and_counts_it()
    {
        using var rig = new NetRig();
        rig.Send(NetRig.Frame(60));
        rig.Send(NetRig.Frame(61));
        Assert.Equal(2, rig.Device.BacklogCount(0));
        rig.Driver.WriteStatus(DeviceStatus.None);
        Assert.Equal(0, rig.Device.BacklogCount(0));
        Assert.Equal(2, rig.Device.Drops(NetDropReason.Reset));
    }

    [Fact]
    public void Link_down_drops_both_ways_raises_a_config_interrupt_and_link_up_restores()
    {
        using var rig = new NetRig();
        rig.PostRx(4, MrgBuffer);
        rig.Driver.TakeInterrupt();
        rig.Device.SetLinkUp(false);
        Assert.Equal(InterruptReason.ConfigChange, rig.Driver.TakeInterrupt() & InterruptReason.ConfigChange);
        Assert.Equal(0, rig.ConfigU16(6));
        rig.Send(NetRig.Frame(60));
        Assert.Equal(1, rig.ReclaimTx()); // completed, not sent
        Assert.Equal(1, rig.Device.Drops(NetDropReason.LinkDown));
        Assert.Empty(rig.Receive());

        rig.Device.SetLinkUp(true);
        Assert.Equal((ushort)NetConfigStatus.LinkUp, rig.ConfigU16(6));
        rig.Send(NetRig.Frame(60));
        Assert.Single(rig.Receive());
    }

    [Fact]
    public void Without_guest_csum_a_partial_checksum_is_completed_by_the_device()
    {
        const ulong noGuestOffloads = NetRig.AllFeatures & ~(NetFeature.GuestCsum | NetFeature.GuestTso4 | NetFeature.GuestTso6);
        using var rig = new NetRig(features: noGuestOffloads);
        rig.PostRx(4, MrgBuffer);
        byte[] frame = NetRig.Frame(101, seed: 3);
        frame[14 + 16] = 0x12; // the sender's pseudo-header sum in the checksum field (a TCP-like offset 16)
        frame[14 + 17] = 0x34;
        rig.Send(frame, new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, ChecksumStart = 14, ChecksumOffset = 16 });

        RxFrame got = Assert.Single(rig.Receive());
        Assert.Equal(NetHeaderFlags.None, got.Header.Flags);
        Assert.Equal(frame.AsSpan(0, 30).ToArray(), got.Frame.AsSpan(0, 30).ToArray());
        Assert.Equal(frame.AsSpan(32).ToArray(), got.Frame.AsSpan(32).ToArray());
        // The completed checksum verifies once the pseudo-header sum the sender left in the field is added back.
        Assert.Equal(0xffff, NetChecksum.Sum(got.Frame.AsSpan(14), 0x1234));
    }

    [Fact]
    public void With_guest_csum_the_header_passes_through_and_the_frame_is_untouched()
    {
        using var rig = new NetRig();
        rig.PostRx(4, MrgBuffer);
        byte[] frame = NetRig.Frame(200, seed: 4);
        var header = new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, GsoType = NetGsoType.TcpV4, GsoSize = 1448, HeaderLength = 54, ChecksumStart = 34, ChecksumOffset = 16 };
        rig.Send(frame, header);
        RxFrame got = Assert.Single(rig.Receive());
        Assert.Equal(frame, got.Frame);
        Assert.Equal(header with { BufferCount = 1 }, got.Header);
    }

    [Fact]
    public void A_gso_frame_the_guest_did_not_negotiate_receiving_is_dropped()
    {
        const ulong noGuestTso = NetRig.AllFeatures & ~(NetFeature.GuestTso4 | NetFeature.GuestTso6);
        using var rig = new NetRig(features: noGuestTso);
        rig.PostRx(4, MrgBuffer);
        rig.Send(NetRig.Frame(200), new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, GsoType = NetGsoType.TcpV4, GsoSize = 1448, ChecksumStart = 34, ChecksumOffset = 16 });
        Assert.Empty(rig.Receive());
        Assert.Equal(1, rig.Device.Drops(NetDropReason.GsoNotNegotiated));
        Assert.Equal(0, rig.Device.BacklogCount(0));
    }

    [Fact]
    public void Two_devices_back_to_back_exchange_frames_both_ways()
    {
        var pair = new NetBackendPair();
        using var a = new NetRig(pair.First);
        using var b = new NetRig(pair.Second, new VirtioNetDeviceOptions { MacAddress = PhysicalAddress.Parse("52-54-00-12-34-57") });
        a.PostRx(8, MrgBuffer);
        b.PostRx(8, MrgBuffer);
        byte[] toB = NetRig.Frame(1514, seed: 1, destination: [0x52, 0x54, 0x00, 0x12, 0x34, 0x57]);
        byte[] toA = NetRig.Frame(70, seed: 2);
        a.Send(toB);
        b.Send(toA);
        Assert.Equal(toB, Assert.Single(b.Receive()).Frame);
        Assert.Equal(toA, Assert.Single(a.Receive()).Frame);
        Assert.Empty(a.Receive());
    }

    [Fact]
    public void With_two_queue_pairs_active_each_pair_carries_its_own_frames()
    {
        using var rig = new NetRig(netOptions: new VirtioNetDeviceOptions { MaxQueuePairs = 2 });
        Assert.Equal((byte?)0, rig.Control(4, 0, [2, 0])); // VQ_PAIRS_SET 2
        Assert.Equal(2, rig.Device.ActiveQueuePairs);
        rig.PostRx(4, MrgBuffer, pair: 0);
        rig.PostRx(4, MrgBuffer, pair: 1);
        byte[] f0 = NetRig.Frame(60, seed: 0);
        byte[] f1 = NetRig.Frame(61, seed: 1);
        rig.Send(f0, pair: 0);
        rig.Send(f1, pair: 1);
        Assert.Equal(f0, Assert.Single(rig.Receive(0)).Frame);
        Assert.Equal(f1, Assert.Single(rig.Receive(1)).Frame);
        Assert.Equal(1, rig.ReclaimTx(1));
    }

    [Fact]
    public void The_used_buffer_interrupt_is_raised_for_rx_and_tx()
    {
        using var rig = new NetRig();
        rig.PostRx(4, MrgBuffer);
        rig.Driver.TakeInterrupt();
        rig.Send(NetRig.Frame(60));
        Assert.Equal(InterruptReason.UsedBuffer, rig.Driver.TakeInterrupt());
        Assert.Single(rig.Receive());
        Assert.Equal(1, rig.ReclaimTx());
    }

    [Fact]
    public void Frames_one_tx_kick_loops_back_reach_the_rx_used_ring_with_one_used_idx_store()
    {
        using var rig = new NetRig(probe: false);
        var log = new PublishedBatches();
        rig.Device.Queues[0].Ring.InflightLog = log;
        rig.Driver.Probe(NetRig.AllFeatures, rig.Device.Queues.Count, 256);
        rig.PostRx(8, MrgBuffer);
        for (int i = 0; i < 8; i++)
        {
            rig.Send(NetRig.Frame(60, seed: i), kick: false);
        }

        rig.Tx().Kick();
        Assert.Equal(8, rig.Receive().Count);
        Assert.Equal([8], log.Sizes);
    }

    /// <summary>The size of each batch a ring published with one <c>used->idx</c> store.</summary>
    private sealed class PublishedBatches : Virtio.Rings.IInflightLog
    {
        public List<int> Sizes { get; } = [];

        public void Popped(ushort head)
        {
        }

        public void Unpopped(ushort head)
        {
        }

        public void Publishing(ReadOnlySpan<ushort> heads)
        {
        }

        public void Published(ReadOnlySpan<ushort> heads, ushort usedIdx) => Sizes.Add(heads.Length);
    }
}
