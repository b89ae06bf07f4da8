using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Virtio.Device;
using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Devices.Tests.Net;

/// <summary>
/// Every bad-input rule of virtio-net: a ring or protocol violation is a device error (NEEDS_RESET and a config
/// interrupt, QEMU's <c>virtio_error</c>); an impossible frame is dropped, counted and its chain completed.
/// </summary>
public class NetDeviceHostileTests
{
    private const int MrgBuffer = 1536;

    [Fact]
    public void A_tx_chain_shorter_than_the_header_breaks_the_device()
    {
        using var rig = new NetRig();
        rig.Driver.TakeInterrupt();
        Assert.Equal(AddResult.Added, rig.Tx().Add([rig.Buffer(8)], [], 1));
        rig.Tx().Kick();
        AssertBroken(rig, "header");
    }

    [Fact]
    public void A_device_writable_descriptor_in_a_tx_chain_breaks_the_device()
    {
        using var rig = new NetRig();
        byte[] frame = new byte[VirtioNetHeader.Size + 60];
        Assert.Equal(AddResult.Added, rig.Tx().Add([rig.Buffer(frame.Length, frame)], [rig.Buffer(16)], 1));
        rig.Tx().Kick();
        AssertBroken(rig, "writable");
    }

    [Fact]
    public void An_rx_chain_with_room_for_less_than_the_header_is_given_back_unused_and_the_frame_dropped()
    {
        using var rig = new NetRig();
        Assert.Equal(AddResult.Added, rig.Rx().Add([], [rig.Buffer(VirtioNetHeader.Size - 1)], 1));
        rig.Rx().Kick();
        rig.Send(NetRig.Frame(60));
        Assert.False(rig.NeedsReset);
        Assert.Equal(1, rig.Device.Drops(NetDropReason.RxBufferShorterThanHeader));
        Assert.True(rig.Rx().TryGetBuffer(out int token, out uint len));
        Assert.Equal((1, 0u), (token, len));

        // The queue keeps working: the next frame lands in the next good buffer.
        rig.PostRx(1, MrgBuffer);
        byte[] frame = NetRig.Frame(60, seed: 7);
        rig.Send(frame);
        Assert.Equal(frame, Assert.Single(rig.Receive()).Frame);
    }

    [Fact]
    public void An_rx_chain_with_no_writable_buffer_breaks_the_device()
    {
        using var rig = new NetRig();
        Assert.Equal(AddResult.Added, rig.Rx().Add([rig.Buffer(64)], [], 1));
        rig.Rx().Kick();
        rig.Send(NetRig.Frame(60));
        AssertBroken(rig, "no in buffers");
    }

    [Fact]
    public void A_too_small_rx_chain_in_the_middle_of_a_mergeable_frame_drops_the_frame_and_gives_back_every_chain_unused()
    {
        using var rig = new NetRig();
        Assert.True(rig.Mergeable);
        Assert.Equal(AddResult.Added, rig.Rx().Add([], [rig.Buffer(MrgBuffer)], 1));
        Assert.Equal(AddResult.Added, rig.Rx().Add([], [rig.Buffer(VirtioNetHeader.Size - 1)], 2));
        rig.Rx().Kick();
        rig.Send(NetRig.Frame(3000)); // needs a second buffer: the bad one
        Assert.False(rig.NeedsReset);
        Assert.Equal(1, rig.Device.Drops(NetDropReason.RxBufferShorterThanHeader));
        Assert.Equal(0, rig.Device.Queues[0].InFlight);
        Assert.True(rig.Rx().TryGetBuffer(out _, out uint first));
        Assert.True(rig.Rx().TryGetBuffer(out _, out uint second));
        Assert.Equal((0u, 0u), (first, second)); // nothing of the frame was published
    }

    [Fact]
    public void A_control_command_without_its_ack_breaks_the_device()
    {
        using var rig = new NetRig();
        Assert.Equal(AddResult.Added, rig.Ctrl.Add([rig.Buffer(2, [0, 0])], [], 1));
        rig.Ctrl.Kick();
        AssertBroken(rig, "ctrl");
    }

    [Fact]
    public void A_control_command_shorter_than_class_and_command_breaks_the_device()
    {
        using var rig = new NetRig();
        Assert.Equal(AddResult.Added, rig.Ctrl.Add([rig.Buffer(1, [0])], [rig.Buffer(1)], 1));
        rig.Ctrl.Kick();
        AssertBroken(rig, "ctrl");
    }

    public static TheoryData<string, VirtioNetHeader, ulong> ImpossibleHeaders => new()
    {
        { "checksum field past the end", new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, ChecksumStart = 50, ChecksumOffset = 9 }, NetRig.AllFeatures },
        { "checksum start past the end", new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, ChecksumStart = 0xffff, ChecksumOffset = 0xffff }, NetRig.AllFeatures },
        { "NEEDS_CSUM without CSUM", new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, ChecksumStart = 14, ChecksumOffset = 16 }, NetRig.AllFeatures & ~(NetFeature.Csum | NetFeature.HostTso4 | NetFeature.HostTso6) },
        { "gso without NEEDS_CSUM", new VirtioNetHeader { GsoType = NetGsoType.TcpV4, GsoSize = 1448 }, NetRig.AllFeatures },
        { "gso_size 0", new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, GsoType = NetGsoType.TcpV4, ChecksumStart = 34, ChecksumOffset = 16 }, NetRig.AllFeatures },
        { "TSO4 not negotiated", new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, GsoType = NetGsoType.TcpV4, GsoSize = 1448, ChecksumStart = 34, ChecksumOffset = 16 }, NetRig.AllFeatures & ~NetFeature.HostTso4 },
        { "UDP gso never offered", new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, GsoType = (NetGsoType)3, GsoSize = 1448, ChecksumStart = 34, ChecksumOffset = 6 }, NetRig.AllFeatures },
        { "unknown gso type", new VirtioNetHeader { Flags = NetHeaderFlags.NeedsCsum, GsoType = (NetGsoType)0x7f, GsoSize = 1448, ChecksumStart = 34, ChecksumOffset = 6 }, NetRig.AllFeatures },
    };

    [Theory]
    [MemberData(nameof(ImpossibleHeaders))]
    public void A_tx_header_with_impossible_values_drops_just_that_frame(string what, VirtioNetHeader header, ulong features)
    {
        using var rig = new NetRig(features: features);
        rig.PostRx(4, MrgBuffer);
        rig.Send(NetRig.Frame(60), header);
        Assert.True(rig.Device.Drops(NetDropReason.BadHeader) == 1, what);
        Assert.Equal(1, rig.ReclaimTx());
        Assert.Empty(rig.Receive());

        byte[] good = NetRig.Frame(60, seed: 1);
        rig.Send(good);
        Assert.Equal(good, Assert.Single(rig.Receive()).Frame);
        Assert.False(rig.NeedsReset, what);
    }

    [Theory]
    [InlineData(0, NetDropReason.Runt)]
    [InlineData(13, NetDropReason.Runt)]
    [InlineData(VirtioNetDevice.MaxFrameLength + 1, NetDropReason.Oversize)]
    [InlineData(200_000, NetDropReason.Oversize)]
    public void A_tx_frame_outside_ethernet_sizes_is_dropped_and_completed(int length, NetDropReason reason)
    {
        using var rig = new NetRig();
        rig.PostRx(64, MrgBuffer);
        rig.Send(new byte[length], layout: TxLayout.HeaderApart, frameSegments: 4);
        Assert.Equal(1, rig.Device.Drops(reason));
        Assert.Equal(1, rig.ReclaimTx());
        Assert.Empty(rig.Receive());
        Assert.False(rig.NeedsReset);
    }

    [Fact]
    public void Frames_a_backend_delivers_outside_ethernet_sizes_are_dropped()
    {
        var backend = new CapturingBackend();
        using var rig = new NetRig(backend);
        rig.PostRx(64, MrgBuffer);
        Assert.Equal(NetReceiveResult.Dropped, backend.Sink!.Receive(0, default, new byte[13]));
        Assert.Equal(NetReceiveResult.Dropped, backend.Sink.Receive(0, default, new byte[VirtioNetDevice.MaxFrameLength + 1]));
        Assert.Equal(NetReceiveResult.Accepted, backend.Sink.Receive(7, default, NetRig.Frame(60))); // any pair: taken modulo the active ones
        Assert.Single(rig.Receive());
        Assert.Equal(1, rig.Device.Drops(NetDropReason.Runt));
        Assert.Equal(1, rig.Device.Drops(NetDropReason.Oversize));
    }

    [Fact]
    public void A_tx_chain_pointing_outside_guest_ram_breaks_the_device_without_throwing()
    {
        using var rig = new NetRig();
        Assert.Equal(AddResult.Added, rig.Tx().Add([new GuestSegment(rig.Memory.EndAddress - 8, 64)], [], 1));
        rig.Tx().Kick();
        Assert.True(rig.NeedsReset);
        Assert.NotNull(rig.Device.BrokenReason);
    }

    [Fact]
    public void A_broken_device_recovers_after_reset_and_a_new_probe()
    {
        using var rig = new NetRig();
        Assert.Equal(AddResult.Added, rig.Tx().Add([rig.Buffer(4)], [], 1));
        rig.Tx().Kick();
        Assert.True(rig.NeedsReset);

        // The broken device gave its chain up, so the reset in the new probe has nothing in flight to wait for
        // (stated as state, not as a duration, which a loaded machine can stretch).
        Assert.All(rig.Device.Queues, q => Assert.Empty(q.GetInFlight()));
        rig.Driver.Probe(NetRig.AllFeatures, rig.Device.Queues.Count, 256);
        Assert.False(rig.NeedsReset);
        Assert.Null(rig.Device.BrokenReason);
        rig.PostRx(4, MrgBuffer);
        byte[] frame = NetRig.Frame(60);
        rig.Send(frame);
        Assert.Equal(frame, Assert.Single(rig.Receive()).Frame);
    }

    [Fact]
    public void A_tx_chain_rewritten_in_the_descriptor_table_after_its_pop_is_sent_as_validated()
    {
        // The pop keeps the descriptors it validated (as QEMU maps the element at pop): a later rewrite of the table
        // changes nothing the device reads, so the frame goes out whole and the queue goes on.
        var backend = new CapturingBackend();
        using var rig = new NetRig(backend, features: NetRig.AllFeatures & ~VirtioFeature.RingIndirectDesc);
        SplitQueue ring = rig.Device.Queues[1].Ring;
        ring.Logger = new PopHook(() =>
        {
            Span<byte> d = rig.Memory.GetSpan(ring.DescriptorTableAddress + (16UL * PoppedHead(rig, ring)), 16);
            BinaryPrimitives.WriteUInt16LittleEndian(d[12..], 0); // NEXT cleared on the header descriptor
        });
        byte[] frame = NetRig.Frame(200, seed: 2);
        rig.Send(frame, layout: TxLayout.HeaderApart);

        Assert.Equal(frame, Assert.Single(backend.Sent));
        Assert.Equal(0, rig.Device.Drops(NetDropReason.ShortRead));
        Assert.False(rig.NeedsReset);
    }

    [Theory]
    [InlineData("NEXT cleared in the middle of the table: the chain ends early")]
    [InlineData("a frame descriptor's length set to 0")]
    public void A_tx_chain_whose_large_indirect_table_is_rewritten_after_its_pop_is_dropped_not_sent_with_the_previous_frames_bytes(string rewrite)
    {
        // An indirect table too large for the pop's shadow is read again from guest RAM on each walk: a rewrite there
        // breaks the queue (ChainModifiedInFlight), and the bytes gathered so far must not go out as a frame.
        const int segments = 24; // the header descriptor + 24 frame pieces: more entries than an indirect shadow slot holds
        var backend = new CapturingBackend();
        using var rig = new NetRig(backend, maxIndirectSegments: 64);
        byte[] first = NetRig.Frame(200, seed: 1);
        rig.Send(first, layout: TxLayout.HeaderApart, frameSegments: segments); // leaves its bytes in the gather buffer
        Assert.Equal(first, Assert.Single(backend.Sent));
        Assert.Equal(1, rig.ReclaimTx());

        SplitQueue ring = rig.Device.Queues[1].Ring;
        ring.Logger = new PopHook(() =>
        {
            Span<byte> head = rig.Memory.GetSpan(ring.DescriptorTableAddress + (16UL * PoppedHead(rig, ring)), 16);
            Assert.Equal((ushort)DescriptorFlags.Indirect, BinaryPrimitives.ReadUInt16LittleEndian(head[12..]));
            ulong table = BinaryPrimitives.ReadUInt64LittleEndian(head);
            Span<byte> entry = rig.Memory.GetSpan(table + (16UL * 5), 16);
            if (rewrite.StartsWith("NEXT", StringComparison.Ordinal))
            {
                BinaryPrimitives.WriteUInt16LittleEndian(entry[12..], 0);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(entry[8..], 0);
            }
        });
        rig.Send(NetRig.Frame(200, seed: 2), layout: TxLayout.HeaderApart, frameSegments: segments);

        Assert.Single(backend.Sent);
        Assert.Equal(1, rig.Device.Drops(NetDropReason.ShortRead));
        Assert.Equal(1, rig.Device.Statistics.TxPackets);
        Assert.True(rig.NeedsReset);
        Assert.Contains("changed while in flight", rig.Device.BrokenReason, StringComparison.OrdinalIgnoreCase);
    }

    private static ushort PoppedHead(NetRig rig, SplitQueue ring)
    {
        ushort slot = (ushort)((ring.LastAvailIdx - 1) & (ring.Size - 1));
        return BinaryPrimitives.ReadUInt16LittleEndian(rig.Memory.GetSpan(ring.AvailRingAddress + 4 + (2UL * slot), 2));
    }

    private static void AssertBroken(NetRig rig, string reasonFragment)
    {
        Assert.True(rig.NeedsReset, "DEVICE_NEEDS_RESET is not set");
        Assert.Equal(InterruptReason.ConfigChange, rig.Driver.TakeInterrupt() & InterruptReason.ConfigChange);
        Assert.Contains(reasonFragment, rig.Device.BrokenReason, StringComparison.OrdinalIgnoreCase);
        Assert.All(rig.Device.Queues, q => Assert.Equal(0, q.InFlight)); // detached: a reset does not wait for them

        // A broken device serves nothing more: a good frame is neither sent nor received.
        long sent = rig.Device.Statistics.TxPackets;
        rig.Send(NetRig.Frame(60));
        Assert.Equal(sent, rig.Device.Statistics.TxPackets);
    }

    /// <summary>A ring logger that runs a guest action when the device pops a chain (its <c>virtqueue_pop</c> trace).</summary>
    private sealed class PopHook(Action onPop) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Name == "virtqueue_pop")
            {
                onPop();
            }
        }
    }

    /// <summary>A backend that only keeps the device's sink, so a test can deliver frames by hand.</summary>
    internal sealed class CapturingBackend : INetBackend
    {
        public INetFrameSink? Sink { get; private set; }

        public List<byte[]> Sent { get; } = [];

        public bool CarriesHeader => true;

        public void Attach(INetFrameSink sink) => Sink = sink;

        public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
        {
            Sent.Add(frame.ToArray());
            return NetTransmitResult.Sent;
        }

        /// <summary>Runs when the device says a refused frame may be offered again.</summary>
        public Action? OnReceiveReady { get; set; }

        public void ReceiveReady() => OnReceiveReady?.Invoke();
    }
}
