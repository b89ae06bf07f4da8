using System.Net.Sockets;
using Virtio.VhostUser;
using Virtio.Cli.Ping;

namespace Virtio.Cli.Tests;

/// <summary><c>virtio ping --listen PATH</c> replaces only a stale socket; anything else at PATH is an error and left alone.</summary>
public sealed class PingListenTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Listen_refuses_a_regular_file_and_leaves_it_alone()
    {
        string path = _dir.File("precious.txt");
        File.WriteAllText(path, "do not delete");
        (int exit, _, string stderr) = VirtioCommand.Run("ping", "--listen", path, "--timeout", "1");
        Assert.Equal(1, exit);
        Assert.Contains("exists and is not a socket", stderr, StringComparison.Ordinal);
        Assert.Equal("do not delete", File.ReadAllText(path));
    }

    [Fact]
    public void Listen_refuses_a_socket_another_program_listens_on()
    {
        string path = _dir.File("live.sock");
        using Socket live = Listen(path);
        (int exit, _, string stderr) = VirtioCommand.Run("ping", "--listen", path, "--timeout", "1");
        Assert.Equal(1, exit);
        Assert.Contains("another program is listening", stderr, StringComparison.Ordinal);
        Assert.Equal(PathKind.Socket, UnixSocketPath.Kind(path));
    }

    [Fact]
    public void Listen_removes_a_stale_socket()
    {
        string path = StaleSocket("stale.sock");
        Assert.Equal(PathKind.Socket, UnixSocketPath.Kind(path));
        Assert.Null(UnixSocketPath.PrepareToListen("--listen", path));
        Assert.Equal(PathKind.Missing, UnixSocketPath.Kind(path));
    }

    [Fact]
    public void Listen_takes_the_place_of_a_stale_socket()
    {
        string path = StaleSocket("stale.sock");
        (int exit, string stdout, string stderr) = VirtioCommand.Run("ping", "--listen", path, "--timeout", "1");
        Assert.Contains($"waiting for a connection on {path}", stdout, StringComparison.Ordinal);
        Assert.Contains("nobody connected", stderr, StringComparison.Ordinal);
        Assert.Equal(1, exit);
    }

    [Fact]
    public void Kind_tells_a_socket_from_a_file_a_directory_and_nothing()
    {
        string file = _dir.File("f");
        File.WriteAllText(file, "x");
        using Socket live = Listen(_dir.File("s.sock"));
        Assert.Equal(PathKind.Other, UnixSocketPath.Kind(file));
        Assert.Equal(PathKind.Directory, UnixSocketPath.Kind(_dir.Path));
        Assert.Equal(PathKind.Socket, UnixSocketPath.Kind(_dir.File("s.sock")));
        Assert.Equal(PathKind.Missing, UnixSocketPath.Kind(_dir.File("none")));
    }

    private static Socket Listen(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        socket.Listen(1);
        return socket;
    }

    /// <summary>A socket file nobody listens on, as a killed run leaves behind: bound, moved away from its name, closed.</summary>
    private string StaleSocket(string name)
    {
        string bound = _dir.File("bound-" + name), path = _dir.File(name);
        using (Socket s = Listen(bound))
        {
            File.Move(bound, path); // .NET unlinks the bound name on close; the moved file stays, with no listener
        }

        return path;
    }
}
