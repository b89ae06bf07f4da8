using Virtio.Devices.Net;

namespace Virtio.Devices.Tests.Net;

/// <summary>Two stream backends on the two ends of a real Unix domain socket pair, each attached to a recording sink.</summary>
internal sealed class StreamLink : IAsyncDisposable
{
    private readonly UnixSocketPair _sockets = new();

    public StreamLink(bool recordLeft = true)
    {
        Left = StreamNetBackend.FromSocket(_sockets.Left);
        Right = StreamNetBackend.FromSocket(_sockets.Right);
        LeftSink = new RecordingFrameSink { Backend = Left, Record = recordLeft };
        RightSink = new RecordingFrameSink { Backend = Right };
        Left.Attach(LeftSink);
        Right.Attach(RightSink);
    }

    public StreamNetBackend Left { get; }

    public StreamNetBackend Right { get; }

    public RecordingFrameSink LeftSink { get; }

    public RecordingFrameSink RightSink { get; }

    public async ValueTask DisposeAsync()
    {
        await Left.DisposeAsync();
        await Right.DisposeAsync();
        _sockets.Dispose();
    }
}
