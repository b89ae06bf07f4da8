namespace Virtio.Devices.Net;

/// <summary>
/// A sink: every frame the device sends is copied out of guest memory (as DPDK's vhost <c>rxonly</c> copies each
/// frame into an mbuf, so the measured cost includes reading the frame), counted and dropped. Nothing is received.
/// </summary>
/// <remarks>
/// Allocation free; safe from several tx queues at once: each pair copies into its own buffer and counts in its own
/// counters, written only by that pair's tx handler (one at a time), so a frame costs no atomic operation.
/// </remarks>
public sealed class DiscardNetBackend : INetBackend
{
    private const int Stride = 8; // one 64-byte cache line per pair's counters: tx queues on several threads share none

    private readonly byte[][] _copies;
    private readonly long[] _counters; // [pair * Stride]: frames, [pair * Stride + 1]: bytes
    private int _attached;

    /// <summary>Creates the sink.</summary>
    /// <param name="queuePairs">The device's queue pairs: one copy buffer each, so tx queues never share one.</param>
    public DiscardNetBackend(int queuePairs = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queuePairs);
        _copies = new byte[queuePairs][];
        _counters = new long[queuePairs * Stride];
        for (int i = 0; i < queuePairs; i++)
        {
            _copies[i] = new byte[VirtioNetDevice.MaxFrameLength];
        }
    }

    /// <summary>Frames taken.</summary>
    public long Frames => Sum(0);

    /// <summary>Their bytes, without the header.</summary>
    public long Bytes => Sum(1);

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
        int pair = (int)((uint)queuePair % (uint)_copies.Length);
        frame.CopyTo(_copies[pair]);
        ref long frames = ref _counters[pair * Stride];
        Volatile.Write(ref frames, frames + 1); // one writer per pair; readers see whole values
        ref long bytes = ref _counters[(pair * Stride) + 1];
        Volatile.Write(ref bytes, bytes + frame.Length);
        return NetTransmitResult.Sent;
    }

    /// <inheritdoc/>
    public void ReceiveReady()
    {
    }

    private long Sum(int field)
    {
        long sum = 0;
        for (int pair = 0; pair < _copies.Length; pair++)
        {
            sum += Volatile.Read(ref _counters[(pair * Stride) + field]);
        }

        return sum;
    }
}
