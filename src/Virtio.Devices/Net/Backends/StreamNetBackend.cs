using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Virtio.Notifications;

namespace Virtio.Devices.Net;

/// <summary>
/// Frames over a byte stream in QEMU's <c>-netdev stream</c> / <c>-netdev socket</c> format: each frame is a 4-byte
/// big-endian length followed by the raw Ethernet frame, with no virtio header (so <see cref="CarriesHeader"/> is
/// false and received frames carry a default <see cref="VirtioNetHeader"/>).
/// </summary>
/// <remarks>
/// <para>
/// The receive loop starts on <see cref="Attach"/> (the device's constructor) and runs on the thread pool until the
/// peer closes the stream, the peer breaks the framing (see <see cref="Error"/>), a read fails, or
/// <see cref="DisposeAsync"/>; <see cref="Completion"/> completes then. It delivers with
/// <see cref="INetFrameSink.TryReceive"/> and, when the device's backlog is full, stops reading until
/// <see cref="ReceiveReady"/>, then offers the same frame again: nothing is dropped or reordered, and the peer is
/// held back by the stream's own flow control.
/// </para>
/// <para>
/// <see cref="Transmit"/> writes and flushes each frame under a lock, so frames from several tx queues go out whole
/// and in the order their calls took the lock. A flush that does not complete at once (the pipe or the socket is full)
/// keeps its frame, which is sent; until it completes every call answers <see cref="NetTransmitResult.Busy"/>, and
/// <see cref="INetFrameSink.TransmitReady"/> follows its completion. Once the peer has stopped reading or a write
/// failed, frames are discarded (counted in <see cref="FramesDiscarded"/>), as on an unplugged cable.
/// </para>
/// </remarks>
public sealed class StreamNetBackend : INetBackend, IAsyncDisposable
{
    /// <summary>Bytes of the big-endian length in front of every frame.</summary>
    public const int LengthPrefixSize = 4;

    private readonly IDuplexPipe _pipe;
    private readonly Stream? _ownedStream;
    private readonly ILogger _logger;
    private readonly Lock _txGate = new();
    private readonly EventNotifier _rxReady = new(); // eventfd-like: a ReceiveReady before the wait is kept
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action<Task<FlushResult>> _onFlushed;

    // Where a frame split across pipe segments is gathered: never larger than the largest legal frame.
    private readonly byte[] _rxFrame = new byte[VirtioNetDevice.MaxFrameLength];
    private int _queuePairs = 1;

    private INetFrameSink? _sink;
    private Task? _receiveLoop;
    private Task<FlushResult>? _pendingFlush; // guarded by _txGate
    private bool _txRefused; // guarded by _txGate: Busy was answered since the flush started
    private bool _txClosed; // guarded by _txGate
    private volatile bool _stopping;
    private int _disposed;
    private Exception? _error;
    private long _framesSent;
    private long _bytesSent;
    private long _framesReceived;
    private long _bytesReceived;
    private long _framesDiscarded;

    /// <summary>
    /// Creates the backend over both ends of a duplex pipe: frames are read from <see cref="IDuplexPipe.Input"/> and
    /// written to <see cref="IDuplexPipe.Output"/>. The backend completes both ends on <see cref="DisposeAsync"/>.
    /// </summary>
    /// <param name="pipe">The connection.</param>
    /// <param name="logger">Where errors and the end of the stream are logged; none by default.</param>
    public StreamNetBackend(IDuplexPipe pipe, ILogger? logger = null)
        : this(pipe, ownedStream: null, logger)
    {
    }

    private StreamNetBackend(IDuplexPipe pipe, Stream? ownedStream, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        _pipe = pipe;
        _ownedStream = ownedStream;
        _logger = logger ?? NullLogger.Instance;
        _onFlushed = OnFlushed;
    }

    /// <summary>Frames written to the output (length prefix not counted in <see cref="BytesSent"/>).</summary>
    public long FramesSent => Interlocked.Read(ref _framesSent);

    /// <summary>Frame bytes written to the output, without the length prefixes.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>Frames delivered to the device.</summary>
    public long FramesReceived => Interlocked.Read(ref _framesReceived);

    /// <summary>Frame bytes delivered to the device, without the length prefixes.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>
    /// Frames answered <see cref="NetTransmitResult.Sent"/> but not written: the output was closed, had failed, or the
    /// frame was empty or longer than <see cref="VirtioNetDevice.MaxFrameLength"/> (the peer would reject it).
    /// </summary>
    public long FramesDiscarded => Interlocked.Read(ref _framesDiscarded);

    /// <summary>
    /// Why the connection stopped working, if it did: a <see cref="NetStreamProtocolException"/> when the peer broke
    /// the framing, else the I/O exception of the failed read or write. Null after a clean end of stream.
    /// </summary>
    public Exception? Error => Volatile.Read(ref _error);

    /// <summary>
    /// Completes (never faults) when the receive loop has stopped: end of stream, <see cref="Error"/>, or
    /// <see cref="DisposeAsync"/>. Never completes if the backend is never attached nor disposed.
    /// </summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// The device's queue pairs, which receive the peer's frames by flow (<see cref="NetFlowHash"/>): one flow stays
    /// on one pair, in order. 1 (the default) sends every frame to pair 0. Set before the device attaches.
    /// </summary>
    public int QueuePairs
    {
        get => _queuePairs;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            _queuePairs = value;
        }
    }

    /// <inheritdoc/>
    /// <remarks>False: the stream format has no room for a virtio header.</remarks>
    public bool CarriesHeader => false;

    /// <summary>
    /// Creates the backend over a stream (a pipe, a TCP or Unix socket's <see cref="NetworkStream"/>). Reads and
    /// writes may be in flight at the same time, so the stream must allow that, as network streams do.
    /// </summary>
    /// <param name="stream">The connection.</param>
    /// <param name="leaveOpen">True to keep <paramref name="stream"/> open after <see cref="DisposeAsync"/>.</param>
    /// <param name="logger">Where errors and the end of the stream are logged; none by default.</param>
    public static StreamNetBackend FromStream(Stream stream, bool leaveOpen = false, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var pipe = new StreamDuplexPipe(
            PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true)),
            PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));
        return new StreamNetBackend(pipe, leaveOpen ? null : stream, logger);
    }

    /// <summary>
    /// Creates the backend over a connected stream socket (QEMU's <c>-netdev stream,addr.type=unix</c> or
    /// <c>inet</c>). The backend owns the socket and closes it on <see cref="DisposeAsync"/>.
    /// </summary>
    /// <param name="socket">A connected socket of type <see cref="SocketType.Stream"/>.</param>
    /// <param name="logger">Where errors and the end of the stream are logged; none by default.</param>
    /// <exception cref="IOException">The socket is not connected.</exception>
    public static StreamNetBackend FromSocket(Socket socket, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        return FromStream(new NetworkStream(socket, ownsSocket: true), leaveOpen: false, logger);
    }

    /// <inheritdoc/>
    /// <remarks>Starts the receive loop.</remarks>
    public void Attach(INetFrameSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (Interlocked.CompareExchange(ref _sink, sink, null) is not null)
        {
            throw new InvalidOperationException("the stream backend is already attached to a device");
        }

        _receiveLoop = Task.Run(() => ReceiveAsync(sink));
    }

    /// <inheritdoc/>
    public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        Task<FlushResult>? started;
        lock (_txGate)
        {
            if (_txClosed || frame.IsEmpty || frame.Length > VirtioNetDevice.MaxFrameLength)
            {
                Interlocked.Increment(ref _framesDiscarded);
                return NetTransmitResult.Sent;
            }

            if (_pendingFlush is not null)
            {
                // The previous frame is still on its way: writing now would race the flush (a PipeWriter has one user).
                _txRefused = true;
                NetBackendLog.TransmitBusy(_logger);
                return NetTransmitResult.Busy;
            }

            ValueTask<FlushResult> flush;
            try
            {
                PipeWriter output = _pipe.Output;
                Span<byte> span = output.GetSpan(LengthPrefixSize + frame.Length);
                BinaryPrimitives.WriteInt32BigEndian(span, frame.Length);
                frame.CopyTo(span[LengthPrefixSize..]);
                output.Advance(LengthPrefixSize + frame.Length);
                flush = output.FlushAsync();
            }
            catch (Exception e)
            {
                // Whatever the transport throws, the device's tx handler must not see it: the output is closed.
                CloseTransmit(e);
                Interlocked.Increment(ref _framesDiscarded);
                return NetTransmitResult.Sent;
            }

            Interlocked.Increment(ref _framesSent);
            Interlocked.Add(ref _bytesSent, frame.Length);
            if (flush.IsCompleted)
            {
                ObserveFlush(flush);
                return NetTransmitResult.Sent;
            }

            _pendingFlush = started = flush.AsTask();
        }

        // Not inline: the continuation calls the device, which must not be re-entered from its own tx handler.
        started.ContinueWith(_onFlushed, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        return NetTransmitResult.Sent;
    }

    /// <inheritdoc/>
    public void ReceiveReady() => _rxReady.Signal();

    /// <summary>
    /// Stops the receive loop, closes both directions (completing the pipe ends, closing an owned stream or socket)
    /// and waits for the loop to end. A frame whose flush was still pending is abandoned, as on an unplugged cable.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping = true;
        Task<FlushResult>? flush;
        lock (_txGate)
        {
            _txClosed = true;
            flush = _pendingFlush;
        }

        _pipe.Input.CancelPendingRead();
        _rxReady.Signal();
        if (flush is not null)
        {
            _pipe.Output.CancelPendingFlush();
        }

        // Closing the stream first unblocks a read or a write that ignores cancellation.
        if (_ownedStream is not null)
        {
            await _ownedStream.DisposeAsync().ConfigureAwait(false);
        }

        if (flush is not null)
        {
            await ((Task)flush).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_receiveLoop is not null)
        {
            await _receiveLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        else
        {
            _completion.TrySetResult();
        }

        try
        {
            await _pipe.Input.CompleteAsync().ConfigureAwait(false);

            // Unsent bytes are dropped rather than written (which could block on a peer that stopped reading).
            await _pipe.Output.CompleteAsync(flush is null ? null : new OperationCanceledException("the stream backend was disposed with a frame unsent")).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The connection is going away; a failure to close it cleanly changes nothing.
        }
    }

    private async Task ReceiveAsync(INetFrameSink sink)
    {
        PipeReader input = _pipe.Input;
        try
        {
            while (!_stopping)
            {
                ReadResult result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                while (TryParseFrame(buffer, out ReadOnlySequence<byte> frame))
                {
                    while (!Deliver(sink, frame))
                    {
                        // The device's backlog is full: hold this frame (and, unread, the stream) until it has room.
                        await _rxReady.WaitAsync().ConfigureAwait(false);
                        _rxReady.TestAndClear();
                        if (_stopping)
                        {
                            return;
                        }
                    }

                    Interlocked.Increment(ref _framesReceived);
                    Interlocked.Add(ref _bytesReceived, frame.Length);
                    buffer = buffer.Slice(frame.End);
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty)
                    {
                        throw new NetStreamProtocolException($"the stream ended {buffer.Length} byte(s) into a frame");
                    }

                    NetBackendLog.EndOfStream(_logger, FramesReceived);
                    break;
                }
            }
        }
        catch (Exception e)
        {
            if (!_stopping)
            {
                Interlocked.CompareExchange(ref _error, e, null);
                NetBackendLog.ReceiveFailed(_logger, e.Message, e);
            }
        }
        finally
        {
            _completion.TrySetResult();
        }
    }

    /// <summary>Splits the next frame off <paramref name="buffer"/> when it is all there (mirrors QEMU's <c>net_fill_rstate</c>).</summary>
    /// <exception cref="NetStreamProtocolException">The length is 0 or above the largest frame.</exception>
    private static bool TryParseFrame(in ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadBigEndian(out int signedLength))
        {
            frame = default;
            return false;
        }

        // Checked before waiting for the frame's bytes: a bogus length never makes the pipe buffer more than one frame.
        uint length = (uint)signedLength;
        if (length is 0 or > VirtioNetDevice.MaxFrameLength)
        {
            throw new NetStreamProtocolException(
                length,
                $"frame length {length} is outside 1..{VirtioNetDevice.MaxFrameLength}");
        }

        if (reader.Remaining < length)
        {
            frame = default;
            return false;
        }

        frame = buffer.Slice(LengthPrefixSize, length);
        return true;
    }

    private bool Deliver(INetFrameSink sink, in ReadOnlySequence<byte> frame)
    {
        // Every queue pair receives: a flow's frames go to the pair its hash picks (the device takes it modulo its active pairs).
        if (frame.IsSingleSegment)
        {
            return sink.TryReceive(PairOf(frame.FirstSpan), default, frame.FirstSpan);
        }

        frame.CopyTo(_rxFrame);
        ReadOnlySpan<byte> whole = _rxFrame.AsSpan(0, (int)frame.Length);
        return sink.TryReceive(PairOf(whole), default, whole);
    }

    private int PairOf(ReadOnlySpan<byte> frame) => _queuePairs == 1 ? 0 : NetFlowHash.Of(frame) % _queuePairs;

    private void OnFlushed(Task<FlushResult> flush)
    {
        bool wake;
        lock (_txGate)
        {
            _pendingFlush = null;
            ObserveFlush(new ValueTask<FlushResult>(flush));
            wake = _txRefused;
            _txRefused = false;
        }

        if (wake)
        {
            Volatile.Read(ref _sink)?.TransmitReady();
        }
    }

    /// <summary>Closes the output when a completed flush failed or found the reader gone. Under <see cref="_txGate"/>.</summary>
    private void ObserveFlush(ValueTask<FlushResult> flush)
    {
        FlushResult result;
        try
        {
            result = flush.GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            CloseTransmit(e is OperationCanceledException ? null : e);
            return;
        }

        if (result.IsCanceled || result.IsCompleted)
        {
            CloseTransmit(null);
        }
    }

    /// <summary>Under <see cref="_txGate"/>.</summary>
    private void CloseTransmit(Exception? failure)
    {
        if (_txClosed)
        {
            return;
        }

        _txClosed = true;
        if (_stopping)
        {
            return;
        }

        if (failure is null)
        {
            NetBackendLog.TransmitClosed(_logger);
            return;
        }

        Interlocked.CompareExchange(ref _error, failure, null);
        NetBackendLog.TransmitFailed(_logger, failure);
    }

    private sealed class StreamDuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}
