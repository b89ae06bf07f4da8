using Virtio.Devices.Net;

namespace Virtio.Devices.Tests.Net;

/// <summary>An inner backend for taps: records what it is sent, can answer Busy, and delivers frames on demand.</summary>
internal sealed class FakeNetBackend : INetBackend
{
    private readonly List<byte[]> _sent = [];
    private int _busyNext;
    private int _receiveReadyCalls;

    public INetFrameSink? Sink { get; private set; }

    public bool CarriesHeader { get; init; }

    public IReadOnlyList<byte[]> Sent => _sent;

    public int ReceiveReadyCalls => Volatile.Read(ref _receiveReadyCalls);

    public void BusyNext(int count) => _busyNext = count;

    public void Attach(INetFrameSink sink) => Sink = sink;

    public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        if (_busyNext > 0)
        {
            _busyNext--;
            return NetTransmitResult.Busy;
        }

        _sent.Add(frame.ToArray());
        return NetTransmitResult.Sent;
    }

    public void ReceiveReady() => Interlocked.Increment(ref _receiveReadyCalls);
}
