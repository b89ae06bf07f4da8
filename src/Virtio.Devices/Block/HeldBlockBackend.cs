namespace Virtio.Devices.Block;

/// <summary>
/// Wraps another <see cref="IBlockBackend"/> and, while <see cref="Holding"/>, keeps every submitted request instead of
/// forwarding it, until it is released: all at once, one by one in any order, or shuffled. Tests use it to complete
/// requests out of order; the diagnostics use it as the "stalled backend" fault (requests popped, never completed).
/// </summary>
/// <remarks>
/// Thread-safe: requests may be submitted and released from any threads. Released requests are forwarded outside the
/// lock, so an inner backend that completes inline may re-enter the device (and this backend) freely.
/// </remarks>
public sealed class HeldBlockBackend : IBlockBackend
{
    private readonly IBlockBackend _inner;
    private readonly bool _ownsInner;
    private readonly List<BlockIo> _held = [];
    private volatile bool _holding = true;
    private bool _disposed;

    /// <summary>Wraps a backend; holding starts on.</summary>
    /// <param name="inner">Where released requests go.</param>
    /// <param name="ownsInner">Dispose <paramref name="inner"/> with this backend.</param>
    public HeldBlockBackend(IBlockBackend inner, bool ownsInner = true)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _ownsInner = ownsInner;
    }

    /// <inheritdoc />
    public ulong Capacity => _inner.Capacity;

    /// <inheritdoc />
    public bool IsReadOnly => _inner.IsReadOnly;

    /// <inheritdoc />
    public BlockBackendCapabilities Capabilities => _inner.Capabilities;

    /// <summary>
    /// True (the initial value): submitted requests are held. False: they go straight to the inner backend; requests
    /// already held stay held until released.
    /// </summary>
    public bool Holding
    {
        get => _holding;
        set => _holding = value;
    }

    /// <summary>How many requests are held now.</summary>
    public int HeldCount
    {
        get
        {
            lock (_held)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>Flushes the inner backend; held requests stay held.</summary>
    public BlockIoStatus Flush() => _inner.Flush();

    /// <inheritdoc />
    public void Submit(BlockIo request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_holding)
        {
            lock (_held)
            {
                if (!_disposed)
                {
                    _held.Add(request);
                    Monitor.PulseAll(_held);
                    return;
                }
            }

            request.Complete(BlockIoStatus.IoError);
            return;
        }

        _inner.Submit(request);
    }

    /// <summary>The request held at a position (0 is the oldest), to decide what to release; do not complete it.</summary>
    /// <param name="index">Position among the held requests, in submission order.</param>
    /// <exception cref="ArgumentOutOfRangeException">Fewer requests are held.</exception>
    public BlockIo GetHeld(int index)
    {
        lock (_held)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _held.Count);
            return _held[index];
        }
    }

    /// <summary>Forwards the request held at a position now; the later ones move up by one.</summary>
    /// <param name="index">Position among the held requests, in submission order (0 is the oldest).</param>
    /// <exception cref="ArgumentOutOfRangeException">Fewer requests are held.</exception>
    public void Release(int index)
    {
        BlockIo request;
        lock (_held)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _held.Count);
            request = _held[index];
            _held.RemoveAt(index);
        }

        _inner.Submit(request);
    }

    /// <summary>Forwards every held request, oldest first.</summary>
    /// <returns>How many were released.</returns>
    public int ReleaseAll() => ReleaseTaken(TakeAll(), random: null);

    /// <summary>Forwards every held request in an order drawn from <paramref name="random"/> (seed it to replay a run).</summary>
    /// <param name="random">The source of the order.</param>
    /// <returns>How many were released.</returns>
    public int ReleaseShuffled(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return ReleaseTaken(TakeAll(), random);
    }

    /// <summary>Waits until at least <paramref name="count"/> requests are held, for tests whose submitters are other threads.</summary>
    /// <param name="count">Requests to wait for.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits for ever.</param>
    /// <returns>True when that many are held; false on timeout.</returns>
    public bool WaitForHeld(int count, TimeSpan timeout)
    {
        bool infinite = timeout == Timeout.InfiniteTimeSpan;
        long deadline = infinite ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_held)
        {
            while (_held.Count < count)
            {
                long left = deadline - Environment.TickCount64;
                if (left <= 0 || !Monitor.Wait(_held, infinite ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(left)))
                {
                    return _held.Count >= count;
                }
            }

            return true;
        }
    }

    /// <summary>
    /// Completes every still-held request with <see cref="BlockIoStatus.IoError"/> (a device must not wait forever on a
    /// backend that is gone), then disposes the inner backend if this one owns it.
    /// </summary>
    public void Dispose()
    {
        BlockIo[] abandoned;
        lock (_held)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            abandoned = [.. _held];
            _held.Clear();
        }

        foreach (BlockIo request in abandoned)
        {
            request.Complete(BlockIoStatus.IoError);
        }

        if (_ownsInner)
        {
            _inner.Dispose();
        }
    }

    private BlockIo[] TakeAll()
    {
        lock (_held)
        {
            BlockIo[] taken = [.. _held];
            _held.Clear();
            return taken;
        }
    }

    private int ReleaseTaken(BlockIo[] taken, Random? random)
    {
        random?.Shuffle(taken);
        foreach (BlockIo request in taken)
        {
            _inner.Submit(request);
        }

        return taken.Length;
    }
}
