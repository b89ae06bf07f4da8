using System.Net.Sockets;
using Virtio.Devices.Net;

namespace Virtio.Devices.Tests.Net;

/// <summary>
/// A stream backend on one end of a real Unix domain socket pair, attached to a recording sink, and the other end
/// left raw (<see cref="Raw"/>) for the test to write and read the wire format by hand.
/// </summary>
internal sealed class RawStreamPeer : IAsyncDisposable
{
    private readonly UnixSocketPair _sockets = new();

    public RawStreamPeer()
    {
        Backend = StreamNetBackend.FromSocket(_sockets.Right);
        Sink = new RecordingFrameSink { Backend = Backend };
        Backend.Attach(Sink);
    }

    public Socket Raw => _sockets.Left;

    public StreamNetBackend Backend { get; }

    public RecordingFrameSink Sink { get; }

    public async ValueTask DisposeAsync()
    {
        await Backend.DisposeAsync();
        _sockets.Dispose();
    }
}
