namespace Virtio.Devices.Net;

/// <summary>
/// A sink: every frame the device sends is copied out of guest memory (as DPDK's vhost <c>rxonly</c> copies each
/// frame into an mbuf, so the measured cost includes reading the frame), counted and dropped. Nothing is received.
/// </summary>
/// <remarks>Allocation free; safe from several tx queues at once (each copies into its own pair's buffer).</remarks>
public sealed class DiscardNetBackend : INetBackend
{
    private readonly byte[][] _copies;
    private long _frames;
    private long _bytes;
    private int _attached;

    /// <summary>Creates the sink.</summary>
    /// <param name="queuePairs">The device's queue pairs: one copy buffer each, so tx queues never share one.</param>
    public DiscardNetBackend(int queuePairs = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queuePairs);
        _copies = new byte[queuePairs][];
        for (int i = 0; i < queuePairs; i++)
        {
            _copies[i] = new byte[VirtioNetDevice.MaxFrameLength];
        }
    }

    /// <summary>Frames taken.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    /// <summary>Their bytes, without the header.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <inheritdoc/>
    /// <remarks>True: the header is taken as the driver wrote it, so the offloads may be offered.</remarks>
    public bool CarriesHeader => true;

    /// <inheritdoc/>
    public void Attach(INetFrameSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (Interlocked.Exchange(ref _attached, 1) != 0)
        {
            throw new InvalidOperationException("the discard backend is already attached to a device");
        }
    }

    /// <inheritdoc/>
    public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        frame.CopyTo(_copies[(uint)queuePair % (uint)_copies.Length]);
        Interlocked.Increment(ref _frames);
        Interlocked.Add(ref _bytes, frame.Length);
        return NetTransmitResult.Sent;
    }

    /// <inheritdoc/>
    public void ReceiveReady()
    {
    }
}
