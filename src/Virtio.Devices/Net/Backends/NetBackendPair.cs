namespace Virtio.Devices.Net;

/// <summary>
/// Two backends wired back to back: what a device attached to <see cref="First"/> sends, the device attached to
/// <see cref="Second"/> receives, on the same queue pair, header included, and the other way round (QEMU's
/// <c>-netdev hubport</c> between two NICs, without the hub).
/// </summary>
public sealed class NetBackendPair
{
    /// <summary>Creates both ends.</summary>
    public NetBackendPair()
    {
        var first = new End();
        var second = new End();
        first.Peer = second;
        second.Peer = first;
        First = first;
        Second = second;
    }

    /// <summary>One end.</summary>
    public INetBackend First { get; }

    /// <summary>The other end.</summary>
    public INetBackend Second { get; }

    private sealed class End : INetBackend
    {
        private INetFrameSink? _sink;

        public End? Peer { get; set; }

        public bool CarriesHeader => true;

        public void Attach(INetFrameSink sink)
        {
            ArgumentNullException.ThrowIfNull(sink);
            if (Interlocked.CompareExchange(ref _sink, sink, null) is not null)
            {
                throw new InvalidOperationException("this end of the pair is already attached to a device");
            }
        }

        public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
        {
            // No device at the other end yet: the frame is lost on the wire, as with an unplugged cable.
            Volatile.Read(ref Peer!._sink)?.Receive(queuePair, header, frame);
            return NetTransmitResult.Sent;
        }

        public void ReceiveReady()
        {
        }
    }
}
