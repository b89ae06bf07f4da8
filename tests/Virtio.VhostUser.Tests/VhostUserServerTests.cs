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

    [Fact]
    public void The_socket_appears_at_its_path_only_once_it_listens()
    {
        // A front-end that connects as soon as the path exists (QEMU after a script's wait for it) is never refused:
        // the socket is bound and set listening under a staging name, then renamed onto the path.
        string dir = Directory.CreateTempSubdirectory("vhost-listen").FullName;
        string path = Path.Combine(dir, "s.sock");
        int refused = 0, connected = 0, accepted = 0;
        using var done = new CancellationTokenSource();
        var watcher = new Thread(() =>
        {
            while (!done.IsCancellationRequested)
            {
                if (Volatile.Read(ref connected) > Volatile.Read(ref accepted))
                {
                    Thread.Yield(); // one connection to each listener
                    continue;
                }

                try
                {
                    using FileDescriptor peer = UnixSocket.Connect(path);
                    Interlocked.Increment(ref connected);
                }
                catch (IOException e) when (e.HResult == 111)
                {
                    refused++; // ECONNREFUSED: the path was a socket that did not listen yet
                }
                catch (IOException)
                {
                    // ENOENT: not there yet
                }
            }
        });
        watcher.Start();
        for (int i = 0; i < 10_000; i++)
        {
            using (FileDescriptor listener = UnixSocket.Listen(path))
            {
                UnixSocket.Accept(listener).Dispose();
                File.Delete(path); // unlinked before it stops listening, as the server does it
            }

            Volatile.Write(ref accepted, i + 1);
        }

        done.Cancel();
        Assert.True(watcher.Join(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, refused);
        Assert.Equal(10_000, connected);
        Assert.Equal([], Directory.GetFileSystemEntries(dir)); // no staging name left behind
        Directory.Delete(dir);
    }

    [Fact]
    public void A_socket_path_too_long_for_a_staging_name_beside_it_is_bound_in_place()
    {
        string root = Directory.CreateTempSubdirectory("vl").FullName;
        string dir = Path.Combine(root, new string('d', 107 - root.Length - 1 - "/s.sock".Length));
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "s.sock");
        Assert.Equal(107, path.Length);
        using (FileDescriptor listener = UnixSocket.Listen(path))
        {
            using FileDescriptor peer = UnixSocket.Connect(path);
            Assert.Equal(PathKind.Socket, UnixSocketPath.Kind(path));
        }

        Assert.Equal([path], Directory.GetFileSystemEntries(dir));
        Directory.Delete(root, recursive: true);
    }
}
