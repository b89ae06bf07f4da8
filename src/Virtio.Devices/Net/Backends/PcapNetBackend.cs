using System.Buffers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Virtio.Devices.Net;

/// <summary>
/// A tap in front of another backend (QEMU's <c>-object filter-dump</c>): everything is forwarded both ways
/// unchanged, and every frame of either direction is written to a libpcap capture (<c>LINKTYPE_ETHERNET</c>,
/// microsecond timestamps from <see cref="PcapNetBackendOptions.TimeProvider"/>), readable by Wireshark and tcpdump.
/// </summary>
/// <remarks>
/// A transmitted frame is captured once the inner backend answered <see cref="NetTransmitResult.Sent"/>, a received
/// one once the device took it (<see cref="INetFrameSink.TryReceive"/>) or was offered it
/// (<see cref="INetFrameSink.Receive"/>), so a frame retried after back-pressure appears once. The capture never breaks
/// the data path: a write error is logged and counted, and capturing stops (see <see cref="CaptureError"/>). Headers
/// are not captured. Disposing flushes and closes the capture; the inner backend stays the caller's to dispose.
/// <para>Calls to <see cref="Transmit"/> go through the tap one at a time. A frame the inner backend delivers back on
/// the transmitting thread before its <see cref="Transmit"/> returns (a loopback, a back-to-back pair) is captured
/// after the transmitted frame, with the time it arrived, so a capture reads in cause-and-effect order.</para>
/// </remarks>
public sealed class PcapNetBackend : INetBackend, IDisposable
{
    private readonly INetBackend _inner;
    private readonly Lock _gate = new();
    private readonly Lock _transmitGate = new();
    private readonly List<(DateTimeOffset At, byte[] Frame, int Length)> _deferred = []; // the transmitting thread's, under _transmitGate
    private int _transmitter; // the managed thread ID inside the inner Transmit, 0 when none
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly bool _leaveOpen;
    private Stream? _stream; // guarded by _gate; null once capturing stopped
    private PcapWriter? _writer; // guarded by _gate
    private INetFrameSink? _sink;
    private Exception? _captureError;
    private long _framesCaptured;
    private long _framesNotCaptured;

    /// <summary>Taps <paramref name="inner"/> into a new capture file at <paramref name="path"/> (replaced if it exists).</summary>
    /// <param name="inner">The backend that carries the frames.</param>
    /// <param name="path">The pcap file.</param>
    /// <param name="options">Snap length, clock, logger; the defaults otherwise.</param>
    /// <exception cref="IOException">The file cannot be created.</exception>
    public PcapNetBackend(INetBackend inner, string path, PcapNetBackendOptions? options = null)
        : this(inner, CreateFile(path), leaveOpen: false, options)
    {
    }

    /// <summary>Taps <paramref name="inner"/> into a capture written to <paramref name="capture"/>.</summary>
    /// <param name="inner">The backend that carries the frames.</param>
    /// <param name="capture">A writable stream; the global header is written at once.</param>
    /// <param name="leaveOpen">True to keep <paramref name="capture"/> open after <see cref="Dispose"/>.</param>
    /// <param name="options">Snap length, clock, logger; the defaults otherwise.</param>
    /// <exception cref="ArgumentOutOfRangeException">The snap length is outside 1 to <see cref="PcapNetBackendOptions.MaxSnapLength"/>.</exception>
    /// <exception cref="IOException">The global header cannot be written.</exception>
    public PcapNetBackend(INetBackend inner, Stream capture, bool leaveOpen = false, PcapNetBackendOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(capture);
        options ??= new PcapNetBackendOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SnapLength, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.SnapLength, PcapNetBackendOptions.MaxSnapLength, nameof(options));
        ArgumentNullException.ThrowIfNull(options.TimeProvider, nameof(options));
        _inner = inner;
        _time = options.TimeProvider;
        _logger = options.Logger ?? NullLogger.Instance;
        _leaveOpen = leaveOpen;
        _writer = new PcapWriter(capture, options.SnapLength);
        _writer.WriteGlobalHeader();
        _stream = capture;
    }

    /// <summary>The tapped backend.</summary>
    public INetBackend Inner => _inner;

    /// <summary>Frames written to the capture, both directions.</summary>
    public long FramesCaptured => Interlocked.Read(ref _framesCaptured);

    /// <summary>Frames that went by without being captured: the one whose write failed and all after it, or after <see cref="Dispose"/>.</summary>
    public long FramesNotCaptured => Interlocked.Read(ref _framesNotCaptured);

    /// <summary>The write error that stopped the capture, if one did.</summary>
    public Exception? CaptureError => Volatile.Read(ref _captureError);

    /// <inheritdoc/>
    /// <remarks>The inner backend's: the tap does not change frames.</remarks>
    public bool CarriesHeader => _inner.CarriesHeader;

    /// <inheritdoc/>
    /// <remarks>Attaches the inner backend to a sink that captures each received frame, then hands it to <paramref name="sink"/>.</remarks>
    public void Attach(INetFrameSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (Interlocked.CompareExchange(ref _sink, sink, null) is not null)
        {
            throw new InvalidOperationException("the pcap backend is already attached to a device");
        }

        _inner.Attach(new CaptureSink(this, sink));
    }

    /// <inheritdoc/>
    public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        lock (_transmitGate)
        {
            DateTimeOffset sentAt = _time.GetUtcNow();
            int outer = _transmitter; // a Transmit nested on this thread (a TransmitReady served inline) keeps the outer one's mark
            Volatile.Write(ref _transmitter, Environment.CurrentManagedThreadId);
            NetTransmitResult result;
            try
            {
                result = _inner.Transmit(queuePair, header, frame);
            }
            finally
            {
                Volatile.Write(ref _transmitter, outer);
            }

            if (result == NetTransmitResult.Sent)
            {
                Capture(frame, sentAt);
            }

            CaptureDeferred();
            return result;
        }
    }

    /// <inheritdoc/>
    public void ReceiveReady() => _inner.ReceiveReady();

    /// <summary>Pushes what was captured so far to the file or stream, so it can be read while the tap runs.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            TryFlush();
        }
    }

    /// <summary>Flushes and closes the capture (unless it was left open); frames still pass through afterwards, uncaptured.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (TryFlush())
            {
                ReleaseStream();
            }
        }
    }

    private static FileStream CreateFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 64 * 1024);
    }

    private static bool IsCaptureFailure(Exception e) =>
        e is IOException or UnauthorizedAccessException or ObjectDisposedException or NotSupportedException;

    /// <summary>A received frame: captured now, or, on a thread inside the inner Transmit, after the frame it sends.</summary>
    private void CaptureReceived(ReadOnlySpan<byte> frame)
    {
        if (Volatile.Read(ref _transmitter) != Environment.CurrentManagedThreadId)
        {
            Capture(frame, _time.GetUtcNow());
            return;
        }

        byte[] copy = ArrayPool<byte>.Shared.Rent(frame.Length);
        frame.CopyTo(copy);
        _deferred.Add((_time.GetUtcNow(), copy, frame.Length));
    }

    private void CaptureDeferred()
    {
        foreach ((DateTimeOffset at, byte[] frame, int length) in _deferred)
        {
            Capture(frame.AsSpan(0, length), at);
            ArrayPool<byte>.Shared.Return(frame);
        }

        _deferred.Clear();
    }

    private void Capture(ReadOnlySpan<byte> frame, DateTimeOffset at)
    {
        lock (_gate)
        {
            if (_writer is null)
            {
                Interlocked.Increment(ref _framesNotCaptured);
                return;
            }

            try
            {
                _writer.WriteRecord(at, frame);
                Interlocked.Increment(ref _framesCaptured);
            }
            catch (Exception e) when (IsCaptureFailure(e))
            {
                Interlocked.Increment(ref _framesNotCaptured);
                StopCapture(e);
            }
        }
    }

    /// <summary>Under <see cref="_gate"/>: false when there is no capture (any more), or it failed and was stopped.</summary>
    private bool TryFlush()
    {
        if (_stream is null)
        {
            return false;
        }

        try
        {
            _stream.Flush();
            return true;
        }
        catch (Exception e) when (IsCaptureFailure(e))
        {
            StopCapture(e);
            return false;
        }
    }

    /// <summary>Under <see cref="_gate"/>: the capture is abandoned, the stream closed (unless left open).</summary>
    private void StopCapture(Exception error)
    {
        Interlocked.CompareExchange(ref _captureError, error, null);
        NetBackendLog.CaptureFailed(_logger, FramesCaptured, error);
        ReleaseStream();
    }

    /// <summary>Under <see cref="_gate"/>.</summary>
    private void ReleaseStream()
    {
        Stream? stream = _stream;
        _stream = null;
        _writer = null;
        if (stream is null || _leaveOpen)
        {
            return;
        }

        try
        {
            stream.Dispose();
        }
        catch (Exception e) when (IsCaptureFailure(e))
        {
            // Disposing flushes, which may fail as the write did; the capture is given up either way.
        }
    }

    /// <summary>The device's sink as the inner backend sees it: captures what the device takes, forwards everything.</summary>
    private sealed class CaptureSink(PcapNetBackend tap, INetFrameSink device) : INetFrameSink
    {
        public NetReceiveResult Receive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
        {
            // On the wire whatever the device then does with it (a tap sees drops too).
            tap.CaptureReceived(frame);
            return device.Receive(queuePair, header, frame);
        }

        public bool TryReceive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
        {
            // A refused frame is offered again later: capture it when it is taken, so it appears once.
            if (!device.TryReceive(queuePair, header, frame))
            {
                return false;
            }

            tap.CaptureReceived(frame);
            return true;
        }

        public void TransmitReady() => device.TransmitReady();
    }
}
