using Virtio.Devices.Net;

namespace Virtio.Devices.Tests.Net;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationCollection
{
    /// <summary>Tests that count the process's allocations run alone.</summary>
    public const string Name = "Allocations";
}

/// <summary>The stream backend's receive path in steady state: no allocation per frame.</summary>
[Collection(AllocationCollection.Name)]
public class StreamNetBackendAllocationTests
{
    [Fact]
    public async Task Receiving_allocates_nothing_per_frame()
    {
        const int frameCount = 20_000;
        byte[] frame = NetTestFrames.Numbered(0, 1514);
        byte[] wire = NetTestFrames.OnTheWire([.. Enumerable.Repeat(frame, frameCount)]);

        // Reads of 5000 bytes: most frames lie in one segment, every few span two and are gathered.
        await using var backend = StreamNetBackend.FromStream(new TrickleStream(wire, pieceSize: 5000));
        var sink = new CountingSink();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        backend.Attach(sink);
        await backend.Completion.WaitAsync(RecordingFrameSink.Timeout);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Null(backend.Error);
        Assert.Equal(frameCount, sink.Count);
        Assert.Equal((long)frameCount * frame.Length, sink.Bytes);

        // A copy per frame would be 30 MB, a small object per frame 0.5 MB or more; the loop's setup is a few KB.
        Assert.True(allocated < 256 * 1024, $"{allocated} bytes allocated for {frameCount} frames");
    }

    private sealed class CountingSink : INetFrameSink
    {
        public int Count { get; private set; }

        public long Bytes { get; private set; }

        public NetReceiveResult Receive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame) =>
            throw new InvalidOperationException("the stream backend must not use the dropping Receive");

        public bool TryReceive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
        {
            Count++;
            Bytes += frame.Length;
            return true;
        }

        public void TransmitReady()
        {
        }
    }
}
