using Virtio.VhostUser.Interop;
using Virtio.VhostUser.Tests.Support;

namespace Virtio.VhostUser.Tests;

/// <summary>GET_INFLIGHT_FD and SET_INFLIGHT_FD over a socket, from a scripted (and sometimes hostile) front-end.</summary>
public sealed class InflightFdTests
{
    [Fact]
    public void Get_inflight_fd_replies_with_a_memfd_sized_for_the_queues()
    {
        using var fe = new ScriptedFrontEnd(numQueues: 2);
        fe.Send(VhostUserRequest.GetInflightFd, Payload(0, 0, 2, 256));
        VhostUserMessage reply = fe.ReadReply(VhostUserRequest.GetInflightFd);
        Assert.Equal(2UL * 4160, reply.U64(0));
        Assert.Equal(0UL, reply.U64(8));
        using FileDescriptor fd = reply.TakeFd()!;
        Assert.Equal(2L * 4160, SharedMemory.FileSize(fd.Value));
    }

    [Fact]
    public void Get_inflight_fd_with_a_queue_size_not_a_power_of_two_ends_the_connection()
    {
        using var fe = new ScriptedFrontEnd();
        fe.Send(VhostUserRequest.GetInflightFd, Payload(0, 0, 1, 100));
        Assert.True(fe.WaitClosed());
    }

    [Fact]
    public void Set_inflight_fd_maps_a_region_its_file_covers()
    {
        using var fe = new ScriptedFrontEnd();
        using FileDescriptor region = SharedMemory.CreateMemfd("inflight", 4160);
        Assert.Equal(0UL, fe.SendAcked(VhostUserRequest.SetInflightFd, Payload(4160, 0, 1, 256), [region.Value]));
    }

    [Fact]
    public void Set_inflight_fd_refuses_a_region_its_file_does_not_cover()
    {
        using var fe = new ScriptedFrontEnd();
        using FileDescriptor region = SharedMemory.CreateMemfd("inflight", 4096);
        Assert.NotEqual(0UL, fe.SendAcked(VhostUserRequest.SetInflightFd, Payload(4160, 0, 1, 256), [region.Value]));
        Assert.Equal(1UL, fe.Get(VhostUserRequest.GetQueueNum));
    }

    [Fact]
    public void Set_inflight_fd_without_an_fd_is_refused_and_the_connection_goes_on()
    {
        using var fe = new ScriptedFrontEnd();
        Assert.NotEqual(0UL, fe.SendAcked(VhostUserRequest.SetInflightFd, Payload(4160, 0, 1, 256)));
        Assert.Equal(1UL, fe.Get(VhostUserRequest.GetQueueNum));
    }

    private static byte[] Payload(ulong size, ulong offset, int queues, int queueSize) =>
        InflightRequestTests.Payload(size, offset, queues, queueSize);
}
