using System.Buffers.Binary;
using Virtio.Notifications;

namespace Virtio.Devices.Net;

/// <summary>
/// A source: fills every rx buffer the driver posts with a frame, as fast as it posts them (DPDK testpmd's
/// <c>txonly</c> from the device's side). One thread offers the same frame with <see cref="INetFrameSink.TryReceive"/>
/// to each queue pair in turn (round robin), skipping a pair whose backlog is full, and sleeps when every pair's is,
/// until the device has room (<see cref="ReceiveReady"/>). What the device sends is counted and dropped.
/// </summary>
/// <remarks>
/// The frame is a broadcast of the IEEE local experimental ethertype (0x88b5) from a locally administered address,
/// padded with zeros to the size asked for: every receive filter takes it, and a Linux guest counts and drops it.
/// </remarks>
public sealed class GeneratorNetBackend : INetBackend, IDisposable
{
    /// <summary>The frame size when none is given: the Ethernet minimum without the FCS.</summary>
    public const int DefaultFrameSize = 60;

    private readonly byte[] _frame;
    private readonly int _queuePairs;
    private readonly EventNotifier _ready = new();
    private readonly Thread _thread;
    private INetFrameSink? _sink;
    private volatile bool _stopping;
    private long _generated;
    private long _framesSent;

    /// <summary>Creates the generator; it starts when the device attaches.</summary>
    /// <param name="frameSize">Bytes of each frame, from <see cref="VirtioNetDevice.MinFrameLength"/> to <see cref="VirtioNetDevice.MaxFrameLength"/>.</param>
    /// <param name="queuePairs">The device's queue pairs, which take the frames in turn.</param>
    public GeneratorNetBackend(int frameSize = DefaultFrameSize, int queuePairs = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queuePairs);
        _queuePairs = queuePairs;
        ArgumentOutOfRangeException.ThrowIfLessThan(frameSize, VirtioNetDevice.MinFrameLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(frameSize, VirtioNetDevice.MaxFrameLength);
        _frame = new byte[frameSize];
        _frame.AsSpan(0, 6).Fill(0xff);
        _frame[6] = 0x02; // locally administered, unicast source
        _frame[11] = 0x01;
        BinaryPrimitives.WriteUInt16BigEndian(_frame.AsSpan(12), 0x88b5);
        _thread = new Thread(Generate) { IsBackground = true, Name = "net-generator" };
    }

    /// <summary>Bytes of each frame.</summary>
    public int FrameSize => _frame.Length;

    /// <summary>Frames the device took (placed or queued for placing).</summary>
    public long Generated => Interlocked.Read(ref _generated);

    /// <summary>Frames the device sent, counted and dropped.</summary>
    public long FramesSent => Interlocked.Read(ref _framesSent);

    /// <inheritdoc/>
    public bool CarriesHeader => false;

    /// <inheritdoc/>
    /// <remarks>Starts the generating thread.</remarks>
    public void Attach(INetFrameSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (Interlocked.CompareExchange(ref _sink, sink, null) is not null)
        {
            throw new InvalidOperationException("the generator backend is already attached to a device");
        }

        _thread.Start();
    }

    /// <inheritdoc/>
    public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        Interlocked.Increment(ref _framesSent);
        return NetTransmitResult.Sent;
    }

    /// <inheritdoc/>
    public void ReceiveReady() => _ready.Signal();

    /// <summary>Stops the generating thread.</summary>
    public void Dispose()
    {
        _stopping = true;
        _ready.Signal();
        if (_thread.IsAlive)
        {
            _thread.Join();
        }
    }

    private void Generate()
    {
        INetFrameSink sink = _sink!;
        int pair = 0;
        int refused = 0; // pairs in a row whose backlog was full
        while (!_stopping)
        {
            bool taken = sink.TryReceive(pair, default, _frame);
            pair = pair + 1 == _queuePairs ? 0 : pair + 1;
            if (taken)
            {
                refused = 0;
                Interlocked.Increment(ref _generated);
                continue;
            }

            if (++refused < _queuePairs)
            {
                continue;
            }

            // Every backlog is full: the device calls ReceiveReady once it has placed frames (a signal before the
            // wait is kept, as an eventfd keeps it).
            refused = 0;
            _ready.Wait(Timeout.Infinite);
            _ready.TestAndClear();
        }
    }
}
