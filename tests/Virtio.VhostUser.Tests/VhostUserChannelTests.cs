using System.Buffers.Binary;
using Virtio.VhostUser.Interop;
using Virtio.VhostUser.Tests.Support;

namespace Virtio.VhostUser.Tests;

[Collection(FdCountCollection.Name)]
public sealed class VhostUserChannelTests : IDisposable
{
    private readonly FileDescriptor _peer;
    private readonly VhostUserChannel _channel;
    private readonly VhostUserMessage _message = new();

    public VhostUserChannelTests()
    {
        (FileDescriptor a, FileDescriptor b) = UnixSocket.Pair();
        _peer = a;
        _channel = new VhostUserChannel(b);
    }

    public void Dispose()
    {
        _channel.Dispose();
        _peer.Dispose();
    }

    private static byte[] Header(uint request, uint flags, uint size, int payloadBytes = 0)
    {
        byte[] bytes = new byte[12 + payloadBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, request);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), size);
        return bytes;
    }

    [Fact]
    public void Receive_reads_header_payload_and_the_fds_that_came_with_it()
    {
        using FileDescriptor e1 = EventFd.Create(), e2 = EventFd.Create();
        byte[] bytes = Header((uint)VhostUserRequest.SetVringKick, 1, 8, 8);
        bytes[12] = 3;
        UnixSocket.Send(_peer, bytes, [e1.Value, e2.Value]);

        Assert.Equal(VhostUserReceiveResult.Message, _channel.Receive(_message));
        Assert.Equal(VhostUserRequest.SetVringKick, _message.Request);
        Assert.Equal(8, _message.Size);
        Assert.Equal(3ul, _message.U64(0));
        Assert.Equal(2, _message.FdCount);
        using FileDescriptor? kept = _message.TakeFd(1);
        Assert.NotNull(kept);
        Assert.True(EventFd.Signal(kept.Value)); // a real duplicate of e2
        Assert.Equal(1, EventFd.TryRead(e2.Value));
        _message.CloseFds();
    }

    [Fact]
    public void Receive_reassembles_a_header_that_arrives_in_pieces()
    {
        // Both pieces are queued before the read, and still arrive in two: a Unix stream read stops after a segment
        // that carries descriptors (Linux unix_stream_read_generic), so the first read returns the 5 bytes sent with
        // the eventfd and the channel must read the other 7 itself.
        byte[] bytes = Header((uint)VhostUserRequest.GetFeatures, 1, 0);
        using FileDescriptor e = EventFd.Create();
        UnixSocket.Send(_peer, bytes.AsSpan(0, 5), [e.Value]);
        UnixSocket.Send(_peer, bytes.AsSpan(5), []);
        Assert.Equal(VhostUserReceiveResult.Message, _channel.Receive(_message));
        Assert.Equal(VhostUserRequest.GetFeatures, _message.Request);
        Assert.Equal(1, _message.FdCount);
        _message.CloseFds();
    }

    [Fact]
    public void Receive_reports_short_header_when_the_peer_closes_inside_it_and_closes_its_fds()
    {
        using FileDescriptor e = EventFd.Create();
        int before = Fds.OpenCount();
        UnixSocket.Send(_peer, Header(1, 1, 0).AsSpan(0, 7), [e.Value]);
        UnixSocket.Shutdown(_peer);
        Assert.Equal(VhostUserReceiveResult.ShortHeader, _channel.Receive(_message));
        Assert.Equal(0, _message.FdCount);
        Assert.Equal(before, Fds.OpenCount());
    }

    [Fact]
    public void Receive_refuses_a_payload_size_above_the_limit()
    {
        UnixSocket.Send(_peer, Header(5, 1, VhostUserProtocol.MaxPayloadSize + 1), []);
        Assert.Equal(VhostUserReceiveResult.OversizePayload, _channel.Receive(_message));
    }

    [Fact]
    public void Receive_refuses_a_protocol_version_other_than_1()
    {
        UnixSocket.Send(_peer, Header(1, 2, 0), []);
        Assert.Equal(VhostUserReceiveResult.BadVersion, _channel.Receive(_message));
    }

    [Fact]
    public void Receive_reports_short_payload_when_the_peer_closes_inside_it()
    {
        UnixSocket.Send(_peer, Header(2, 1, 8, 4), []);
        UnixSocket.Shutdown(_peer);
        Assert.Equal(VhostUserReceiveResult.ShortPayload, _channel.Receive(_message));
    }

    [Fact]
    public void Receive_closes_every_fd_when_more_arrive_than_a_message_may_carry()
    {
        var sent = new List<FileDescriptor>();
        for (int i = 0; i < 12; i++)
        {
            sent.Add(EventFd.Create());
        }

        int before = Fds.OpenCount();
        UnixSocket.Send(_peer, Header(2, 1, 0), sent.Select(f => f.Value).ToArray(), maxFds: 12);
        Assert.Equal(VhostUserReceiveResult.TooManyFds, _channel.Receive(_message));
        Assert.Equal(before, Fds.OpenCount());
        sent.ForEach(f => f.Dispose());
    }

    [Fact]
    public void CloseFds_closes_the_fds_a_handler_did_not_take()
    {
        using FileDescriptor e1 = EventFd.Create(), e2 = EventFd.Create(), e3 = EventFd.Create();
        int before = Fds.OpenCount();
        UnixSocket.Send(_peer, Header(13, 1, 8, 8), [e1.Value, e2.Value, e3.Value]);
        Assert.Equal(VhostUserReceiveResult.Message, _channel.Receive(_message));
        Assert.Equal(before + 3, Fds.OpenCount());
        using (FileDescriptor? kept = _message.TakeFd(0))
        {
            _message.CloseFds();
            Assert.Equal(before + 1, Fds.OpenCount());
        }

        Assert.Equal(before, Fds.OpenCount());
    }

    [Fact]
    public void Send_and_Receive_round_trip_a_reply()
    {
        var other = new VhostUserChannel(_peer);
        other.Send(VhostUserRequest.GetQueueNum, VhostUserProtocol.FlagReply, ScriptedFrontEnd.U64(4));
        Assert.Equal(VhostUserReceiveResult.Message, _channel.Receive(_message));
        Assert.Equal(VhostUserRequest.GetQueueNum, _message.Request);
        Assert.Equal(VhostUserProtocol.FlagVersion | VhostUserProtocol.FlagReply, _message.Flags);
        Assert.Equal(4ul, _message.U64(0));
    }
}
