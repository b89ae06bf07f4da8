using System.Buffers.Binary;
using Virtio.Rings;
using Virtio.VhostUser.Interop;
using Virtio.VhostUser.Tests.Support;

namespace Virtio.VhostUser.Tests;

/// <summary>The back-end against a well-behaved front-end: negotiation, memory, rings, a request end to end.</summary>
[Collection(FdCountCollection.Name)]
public sealed class VhostUserBackendTests
{
    private const ulong RingBase = 0x1000;

    [Fact]
    public void GetFeatures_offers_the_device_features_and_PROTOCOL_FEATURES()
    {
        using var fe = new ScriptedFrontEnd();
        ulong features = fe.Get(VhostUserRequest.GetFeatures);
        Assert.Equal(fe.Backend.Device.DeviceFeatures | VhostUserProtocol.ProtocolFeaturesFeature, features);
    }

    [Fact]
    public void GetQueueNum_and_GetConfig_describe_the_device()
    {
        using var fe = new ScriptedFrontEnd(numQueues: 2);
        fe.Negotiate();
        Assert.Equal(2ul, fe.Get(VhostUserRequest.GetQueueNum));
        byte[] request = new byte[12 + 8];
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(4), 8);
        fe.Send(VhostUserRequest.GetConfig, request);
        VhostUserMessage reply = fe.ReadReply(VhostUserRequest.GetConfig);
        Assert.Equal(20, reply.Size);
        Assert.Equal((1ul << 20) / 512, BinaryPrimitives.ReadUInt64LittleEndian(reply.Payload[12..])); // capacity
    }

    [Fact]
    public void A_blk_request_travels_through_the_shared_ring_and_the_call_eventfd()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        Assert.Equal(0ul, fe.SetMemTable());
        using var ring = TestRing.Start(fe);
        Assert.True(fe.Backend.IsRingRunning(0));
        fe.Ram.GetSpan(0x40000, 512).Fill(0x5a);
        Assert.Equal(0, ring.Request(type: 1, sector: 3)); // OUT
        fe.Ram.GetSpan(0x40000, 512).Clear();
        Assert.Equal(0, ring.Request(type: 0, sector: 3)); // IN
        Assert.True(fe.Ram.GetSpan(0x40000, 512).ToArray().All(b => b == 0x5a));
    }

    [Fact]
    public void Rings_start_disabled_when_PROTOCOL_FEATURES_is_negotiated()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        fe.SetMemTable();
        var layout = SplitRingLayout.Create(RingBase, size: 256);
        using var kick = new EventFdNotifier();
        fe.SendAcked(VhostUserRequest.SetVringAddr, ScriptedFrontEnd.Addr(0, fe.User(layout.DescriptorTable), fe.User(layout.UsedRing), fe.User(layout.AvailRing)));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringKick, ScriptedFrontEnd.U64(0), [kick.Fd]));
        Assert.False(fe.Backend.IsRingRunning(0));
        Assert.Equal(0ul, fe.SendAcked(VhostUserRequest.SetVringEnable, ScriptedFrontEnd.State(0, 1)));
        Assert.True(fe.Backend.IsRingRunning(0));
    }

    [Fact]
    public void GetVringBase_stops_the_ring_and_returns_its_last_avail_idx()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        fe.SetMemTable();
        using var ring = TestRing.Start(fe);
        ring.Request(type: 0, sector: 0);
        ring.Request(type: 0, sector: 1);
        fe.Send(VhostUserRequest.GetVringBase, ScriptedFrontEnd.State(0, 0));
        VhostUserMessage reply = fe.ReadReply(VhostUserRequest.GetVringBase);
        Assert.Equal(0u, reply.U32(0));
        Assert.Equal(2u, reply.U32(4));
        Assert.False(fe.Backend.IsRingRunning(0));
    }

    [Fact]
    public void SetMemTable_while_a_ring_runs_stops_it_remaps_and_restarts_it_at_the_same_index()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Negotiate();
        fe.SetMemTable();
        using var ring = TestRing.Start(fe);
        Assert.Equal(0, ring.Request(type: 0, sector: 0));
        Assert.Equal(0ul, fe.SetMemTable());
        Assert.True(fe.Backend.IsRingRunning(0));
        Assert.Equal(1, Fds.MappingsOf(ScriptedFrontEnd.MemfdName) - 1); // ours and the back-end's one mapping
        Assert.Equal(0, ring.Request(type: 0, sector: 1));
    }

    [Fact]
    public void Ending_the_connection_unmaps_every_region_and_closes_every_fd()
    {
        var fe = new ScriptedFrontEnd();
        int mappingsBefore = Fds.MappingsOf(ScriptedFrontEnd.MemfdName);
        fe.Negotiate();
        fe.SetMemTable();
        var ring = TestRing.Start(fe);
        int fdsWithRing = Fds.OpenCount();
        Assert.Equal(mappingsBefore + 1, Fds.MappingsOf(ScriptedFrontEnd.MemfdName));
        ring.Request(type: 0, sector: 0);

        UnixSocket.Shutdown(fe.Channel.Socket);
        Assert.True(fe.WaitClosed());
        Assert.Equal(mappingsBefore, Fds.MappingsOf(ScriptedFrontEnd.MemfdName));
        // Closed: the back-end's duplicates of kick and call, its end of the socket and its stop eventfd.
        Assert.Equal(fdsWithRing - 4, Fds.OpenCount());
        ring.Dispose();
        fe.Dispose();
    }
}
