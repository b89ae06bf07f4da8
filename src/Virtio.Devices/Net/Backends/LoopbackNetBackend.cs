namespace Virtio.Devices.Net;

/// <summary>
/// Every frame the device sends comes back to its own receive side, on the same queue pair, header included (a
/// cable plugged into itself). Synchronous: the frame is placed on the transmitting thread when rx buffers are there.
/// </summary>
public sealed class LoopbackNetBackend : INetBackend
{
    private INetFrameSink? _sink;

    /// <inheritdoc/>
    public bool CarriesHeader => true;

    /// <inheritdoc/>
    public void Attach(INetFrameSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (Interlocked.CompareExchange(ref _sink, sink, null) is not null)
        {
            throw new InvalidOperationException("the loopback backend is already attached to a device");
        }
    }

    /// <inheritdoc/>
    public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        // A frame the device drops on its rx side (backlog full, filtered) was still sent: the wire took it.
        _sink?.Receive(queuePair, header, frame);
        return NetTransmitResult.Sent;
    }

    /// <inheritdoc/>
    public void ReceiveReady()
    {
    }
}
