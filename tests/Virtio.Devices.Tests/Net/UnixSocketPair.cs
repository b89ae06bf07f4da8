using System.Net.Sockets;

namespace Virtio.Devices.Tests.Net;

/// <summary>Two connected Unix domain stream sockets (the accepted end is <see cref="Right"/>), through a temp path.</summary>
internal sealed class UnixSocketPair : IDisposable
{
    public UnixSocketPair()
    {
        string path = Path.Combine(Path.GetTempPath(), $"virtio-net-{Guid.NewGuid():N}.sock");
        var endPoint = new UnixDomainSocketEndPoint(path);
        try
        {
            using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(endPoint);
            listener.Listen(1);
            Left = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            Left.Connect(endPoint);
            Right = listener.Accept();
        }
        finally
        {
            File.Delete(path);
        }
    }

    public Socket Left { get; }

    public Socket Right { get; }

    public void Dispose()
    {
        Left.Dispose();
        Right.Dispose();
    }
}
