using System.Buffers.Binary;
using Virtio.Rings;
using Virtio.VhostUser.Interop;
using Virtio.VhostUser.Tests.Support;

namespace Virtio.VhostUser.Tests;

/// <summary>
/// A front-end that breaks the protocol, one rule per test: every case ends in an error reply (REPLY_ACK non-zero) or
/// a closed connection, with the back-end still sound: no crash, no leaked descriptor or mapping, no ring on
/// unmapped memory.
/// </summary>
[Collection(FdCountCollection.Name)]
public sealed class HostileFrontEndTests
{
    private static void SendRaw(ScriptedFrontEnd fe, uint request, uint flags, uint size, ReadOnlySpan<byte> payload = default, ReadOnlySpan<int> fds = default)
    {
        byte[] bytes = new byte[12 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, request);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), size);
        payload.CopyTo(bytes.AsSpan(12));
        UnixSocket.Send(fe.Channel.Socket, bytes, fds);
    }

    private static void StillServes(ScriptedFrontEnd fe) =>
        Assert.Equal(1ul, fe.Get(VhostUserRequest.GetQueueNum));

    private static byte[] RingAddr(ScriptedFrontEnd fe, uint index = 0)
    {
        var layout = SplitRingLayout.Create(0x1000, size: 256);
        return ScriptedFrontEnd.Addr(index, fe.User(layout.DescriptorTable), fe.User(layout.UsedRing), fe.User(layout.AvailRing));
    }

    [Fact]
    public void A_short_header_closes_the_connection_and_closes_its_fds()
    {
        var fe = new ScriptedFrontEnd();
        using FileDescriptor e = EventFd.Create();
        byte[] partial = new byte[5];
        UnixSocket.Send(fe.Channel.Socket, partial, [e.Value]);
        UnixSocket.Shutdown(fe.Channel.Socket);
        Assert.True(fe.WaitClosed());
        Assert.Contains("ShortHeader", fe.Backend.CloseReason);
        fe.Dispose();
    }

    [Fact]
    public void A_payload_size_beyond_the_limit_closes_the_connection()
    {
        using var fe = new ScriptedFrontEnd();
        SendRaw(fe, (uint)VhostUserRequest.SetMemTable, 1, 1u << 30);
        Assert.True(fe.WaitClosed());
        Assert.Contains("OversizePayload", fe.Backend.CloseReason);
    }

    [Fact]
    public void A_message_flagged_as_a_reply_closes_the_connection()
    {
        using var fe = new ScriptedFrontEnd();
        SendRaw(fe, (uint)VhostUserRequest.SetOwner, 1 | VhostUserProtocol.FlagReply, 0);
        Assert.True(fe.WaitClosed());
        Assert.Contains("REPLY", fe.Backend.CloseReason);
    }

    [Fact]
    public void SetMemTable_with_a_missing_fd_is_refused_and_maps_nothing()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        int before = Fds.MappingsOf(ScriptedFrontEnd.MemfdName);
        byte[] table = ScriptedFrontEnd.MemTable((0, 0x80000, fe.User(0), 0), (0x80000, 0x80000, fe.User(0x80000), 0x80000));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetMemTable, table, [fe.RamFd.Value]));
        Assert.Equal(before, Fds.MappingsOf(ScriptedFrontEnd.MemfdName));
        Assert.Empty(fe.Backend.Memory.Regions);
        StillServes(fe);
    }

    [Fact]
    public void An_extra_fd_is_closed_and_the_request_still_applies()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        using FileDescriptor stray = EventFd.Create();
        int before = Fds.OpenCount();
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringNum, ScriptedFrontEnd.State(0, 128), [stray.Value]));
        // The back-end closes a message's descriptors after handling it, which may be just after its ack reaches us;
        // it handles messages one at a time, so once the next one is answered the stray one is closed.
        StillServes(fe);
        Assert.Equal(before, Fds.OpenCount());
    }

    [Fact]
    public void Overlapping_regions_are_refused()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        Assert.NotEqual(0ul, fe.SetMemTable((0, 0x80000, fe.User(0), 0), (0x40000, 0x80000, fe.User(0x80000), 0x40000)));
        Assert.Empty(fe.Backend.Memory.Regions);
        Assert.Equal(0ul, fe.SetMemTable());
        var add = new byte[40];
        ScriptedFrontEnd.MemTable((0x1000, 0x1000, fe.User(0x1000), 0x1000)).AsSpan(8).CopyTo(add.AsSpan(8));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.AddMemReg, add, [fe.RamFd.Value]));
        Assert.Single(fe.Backend.Memory.Regions);
    }

    [Fact]
    public void A_region_that_wraps_the_address_space_is_refused()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        Assert.NotEqual(0ul, fe.SetMemTable((ulong.MaxValue - 0xfff, 0x2000, fe.User(0), 0)));
        Assert.Empty(fe.Backend.Memory.Regions);
    }

    [Fact]
    public void A_region_past_the_end_of_its_memfd_is_refused()
    {
        // mmap past the end of a file succeeds and the first touch raises SIGBUS: a ring there would kill the back-end.
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        Assert.NotEqual(0ul, fe.SetMemTable((0, ScriptedFrontEnd.RamSize + 0x1000, fe.User(0), 0)));
        Assert.NotEqual(0ul, fe.SetMemTable((0, ScriptedFrontEnd.RamSize, fe.User(0), 0x1000)));
        Assert.NotEqual(0ul, fe.SetMemTable((0, 1UL << 62, fe.User(0), 0)));
        Assert.Empty(fe.Backend.Memory.Regions);
        StillServes(fe);
    }

    [Fact]
    public void A_ring_address_in_no_region_is_refused_and_the_ring_does_not_run()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        fe.SetMemTable();
        using var kick = new EventFdNotifier();
        fe.SendAcked(VhostUserRequest.SetVringAddr, ScriptedFrontEnd.Addr(0, fe.User(0) + ScriptedFrontEnd.RamSize + 0x1000, fe.User(0x2000), fe.User(0x3000)));
        fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(0), [kick.Fd]);
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(0, 1)));
        Assert.False(fe.Backend.IsRingRunning(0));
        StillServes(fe);
    }

    [Fact]
    public void A_ring_that_crosses_the_end_of_its_region_breaks_the_device_and_does_not_run()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        fe.SetMemTable();
        using var kick = new EventFdNotifier();
        ulong end = ScriptedFrontEnd.RamSize;
        fe.SendAcked(VhostUserRequest.SetVringAddr, ScriptedFrontEnd.Addr(0, fe.User(end - 0x10), fe.User(0x2000), fe.User(0x3000)));
        fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(0), [kick.Fd]);
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(0, 1)));
        Assert.False(fe.Backend.IsRingRunning(0));
        Assert.False(fe.Backend.Device.Queues[0].Ring.IsReady);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(512u)]
    [InlineData(65536u)]
    public void A_queue_size_not_a_power_of_two_up_to_the_maximum_is_refused(uint num)
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringNum, ScriptedFrontEnd.State(0, num)));
    }

    [Fact]
    public void A_queue_index_out_of_range_is_refused()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        using var kick = new EventFdNotifier();
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringNum, ScriptedFrontEnd.State(1, 128)));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringAddr, RingAddr(fe, index: 200)));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(0xff), [kick.Fd]));
        StillServes(fe);
    }

    [Fact]
    public void GetVringBase_of_a_queue_out_of_range_closes_the_connection()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        fe.Send(VhostUserRequest.GetVringBase, ScriptedFrontEnd.State(9, 0));
        Assert.True(fe.WaitClosed());
        Assert.Contains("out of range", fe.Backend.CloseReason);
    }

    [Fact]
    public void A_ring_started_before_SetMemTable_is_refused_and_does_not_run()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        using var kick = new EventFdNotifier();
        fe.SendAcked(VhostUserRequest.SetVringAddr, RingAddr(fe));
        fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(0), [kick.Fd]);
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(0, 1)));
        Assert.False(fe.Backend.IsRingRunning(0));

        // Once the memory arrives, enabling again starts it.
        Assert.Equal(0ul, fe.SetMemTable());
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(0, 1)));
        Assert.True(fe.Backend.IsRingRunning(0));
    }

    [Fact]
    public void A_ring_started_before_SetFeatures_is_refused()
    {
        using var fe = new ScriptedFrontEnd();
        fe.SetMemTable();
        using var kick = new EventFdNotifier();
        fe.SendAcked(VhostUserRequest.SetVringAddr, RingAddr(fe));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(0), [kick.Fd]));
        Assert.False(fe.Backend.IsRingRunning(0));
    }

    [Fact]
    public void A_kick_without_fd_and_without_the_NOFD_bit_is_refused()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(0)));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringCall, ScriptedFrontEnd.U64(0)));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringCall, ScriptedFrontEnd.U64(VhostUserProtocol.VringNoFdMask)));
    }

    [Fact]
    public void A_kick_call_or_err_with_two_descriptors_is_refused_and_both_are_closed()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        fe.SetMemTable();
        fe.SendAcked(VhostUserRequest.SetVringAddr, RingAddr(fe));
        using var a = new EventFdNotifier();
        using var b = new EventFdNotifier();
        int before = Fds.OpenCount();
        long refusals = fe.Backend.Refusals;
        foreach (VhostUserRequest request in new[] { VhostUserRequest.SetVringKick, VhostUserRequest.SetVringCall, VhostUserRequest.SetVringErr })
        {
            Assert.NotEqual(0ul, fe.SendAcked(request, ScriptedFrontEnd.U64(0), [a.Fd, b.Fd]));
        }

        Assert.Equal(refusals + 3, fe.Backend.Refusals);
        Assert.False(fe.Backend.IsRingRunning(0));
        StillServes(fe);
        Assert.Equal(before, Fds.OpenCount());

        // With the NOFD bit the descriptors are not used, as libvhost-user has it: accepted, and closed.
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringCall, ScriptedFrontEnd.U64(VhostUserProtocol.VringNoFdMask), [a.Fd, b.Fd]));
        StillServes(fe);
        Assert.Equal(before, Fds.OpenCount());

        // One descriptor: the ring starts on it.
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(0), [a.Fd]));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(0, 1)));
        Assert.True(fe.Backend.IsRingRunning(0));
    }

    [Fact]
    public void An_unsupported_request_counts_as_one_refusal()
    {
        using var fe = new ScriptedFrontEnd();
        long refusals = fe.Backend.Refusals;
        Assert.NotEqual(0ul, fe.SendAcked((VhostUserRequest)200));
        Assert.Equal(refusals + 1, fe.Backend.Refusals);
        StillServes(fe);
    }

    [Fact]
    public void SetVringNum_while_the_ring_runs_is_refused()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        fe.SetMemTable();
        using var ring = TestRing.Start(fe);
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringNum, ScriptedFrontEnd.State(0, 64)));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringAddr, RingAddr(fe)));
        Assert.True(fe.Backend.IsRingRunning(0));
    }

    [Fact]
    public void Features_that_were_not_offered_are_refused()
    {
        using var fe = new ScriptedFrontEnd();
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetFeatures, ScriptedFrontEnd.U64(1UL << 63)));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetProtocolFeatures, ScriptedFrontEnd.U64(1UL << 1)));
    }

    [Fact]
    public void A_short_payload_for_its_request_is_refused()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetVringAddr, new byte[8]));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetMemTable, new byte[4]));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetFeatures, new byte[2]));
        StillServes(fe);
    }

    [Fact]
    public void A_GetConfig_size_that_does_not_match_its_payload_closes_the_connection()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        byte[] request = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(4), 200);
        fe.Send(VhostUserRequest.GetConfig, request);
        Assert.True(fe.WaitClosed());
    }

    [Fact]
    public void An_unknown_request_with_NEED_REPLY_gets_an_error_reply()
    {
        using var fe = new ScriptedFrontEnd();
        Assert.NotEqual(0ul, fe.SendAcked((VhostUserRequest)777));
        Assert.NotEqual(0ul, fe.SendAcked(VhostUserRequest.SetLogFd));
        StillServes(fe);
    }

    [Fact]
    public void A_kick_fd_that_is_not_an_eventfd_stops_being_polled_and_the_back_end_goes_on()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        fe.SetMemTable();
        var layout = SplitRingLayout.Create(0x1000, size: 256);
        fe.SendAcked(VhostUserRequest.SetVringAddr, ScriptedFrontEnd.Addr(0, fe.User(layout.DescriptorTable), fe.User(layout.UsedRing), fe.User(layout.AvailRing)));
        (FileDescriptor a, FileDescriptor b) = UnixSocket.Pair();
        using (a)
        using (b)
        {
            fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(0), [a.Value]);
            fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(0, 1));
            UnixSocket.Send(b, new byte[3], []); // readable, but a 3-byte read is no eventfd counter
            UnixSocket.Shutdown(b);
            StillServes(fe);
            Assert.True(fe.Backend.IsRingRunning(0));
        }
    }

    [Fact]
    public void Removing_the_region_a_running_ring_lives_in_stops_the_ring_before_unmapping()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        int before = Fds.MappingsOf(ScriptedFrontEnd.MemfdName);
        fe.SetMemTable();
        using var ring = TestRing.Start(fe);
        Assert.Equal(0, ring.Request(type: 0, sector: 0));

        byte[] remove = new byte[40];
        ScriptedFrontEnd.MemTable((0, ScriptedFrontEnd.RamSize, fe.User(0), 0)).AsSpan(8).CopyTo(remove.AsSpan(8));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.RemMemReg, remove, [fe.RamFd.Value]));
        Assert.False(fe.Backend.IsRingRunning(0));
        Assert.False(fe.Backend.Device.Queues[0].Ring.IsReady);
        Assert.Empty(fe.Backend.Memory.Regions);
        Assert.Equal(before, Fds.MappingsOf(ScriptedFrontEnd.MemfdName));
        StillServes(fe);
    }
}
