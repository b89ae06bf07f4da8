using Virtio.Devices.Block;
using Virtio.VhostUser.Interop;
using Virtio.VhostUser.Tests.Support;

namespace Virtio.VhostUser.Tests;

public sealed class VhostUserServerTests
{
    private static VhostUserBackend NewBackend() =>
        new(memory => new BlockDevice(memory, new MemoryBlockBackend(1 << 20), new BlockDeviceOptions { NumQueues = 3 }));

    private static ulong QueueNum(FileDescriptor socket)
    {
        var channel = new VhostUserChannel(socket);
        var reply = new VhostUserMessage();
        channel.Send(VhostUserRequest.GetQueueNum, 0, []);
        Assert.Equal(VhostUserReceiveResult.Message, channel.Receive(reply));
        return reply.U64(0);
    }

    [Fact]
    public void Listen_serves_one_front_end_after_another_and_stops_on_cancellation()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vhost-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");
        using VhostUserBackend backend = NewBackend();
        using var stop = new CancellationTokenSource();
        using var listening = new ManualResetEventSlim();
        var server = new Thread(() => VhostUserServer.Listen(backend, path, onListening: listening.Set, cancellationToken: stop.Token));
        server.Start();
        Assert.True(listening.Wait(TimeSpan.FromSeconds(30)));

        using (FileDescriptor first = UnixSocket.Connect(path))
        {
            Assert.Equal(3ul, QueueNum(first));
        }

        // QEMU reconnecting after the first connection ended (reconnect=1) gets a fresh session.
        using (FileDescriptor second = UnixSocket.Connect(path))
        {
            Assert.Equal(3ul, QueueNum(second));
            stop.Cancel();
            Assert.True(server.Join(TimeSpan.FromSeconds(30)));
        }

        Assert.False(File.Exists(path));
        Assert.Equal("stopped", backend.CloseReason);
    }

    [Fact]
    public void Connect_serves_a_front_end_that_listens()
    {
        // QEMU with -chardev socket,server=on listens; the back-end connects.
        string path = Path.Combine(Path.GetTempPath(), $"vhost-fe-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");
        using VhostUserBackend backend = NewBackend();
        using FileDescriptor listener = UnixSocket.Listen(path);
        var server = new Thread(() => VhostUserServer.Connect(backend, path));
        server.Start();
        using (FileDescriptor frontEnd = UnixSocket.Accept(listener))
        {
            Assert.Equal(3ul, QueueNum(frontEnd));
        }

        Assert.True(server.Join(TimeSpan.FromSeconds(30)));
        Assert.Null(backend.CloseReason); // the front-end's close is a clean end of file
        File.Delete(path);
    }

    [Fact]
    public void Listen_refuses_a_regular_file_at_the_socket_path_and_leaves_it_alone()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vhost-file-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");
        File.WriteAllText(path, "not a socket");
        try
        {
            using VhostUserBackend backend = NewBackend();
            var e = Assert.Throws<VhostUserException>(() => VhostUserServer.Listen(backend, path));
            Assert.Contains("not a socket", e.Message, StringComparison.Ordinal);
            Assert.Equal("not a socket", File.ReadAllText(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Listen_refuses_a_socket_another_server_listens_on()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vhost-live-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");
        using FileDescriptor other = UnixSocket.Listen(path);
        try
        {
            using VhostUserBackend backend = NewBackend();
            var e = Assert.Throws<VhostUserException>(() => VhostUserServer.Listen(backend, path));
            Assert.Contains("another program is listening", e.Message, StringComparison.Ordinal);
            Assert.Equal(PathKind.Socket, UnixSocketPath.Kind(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
