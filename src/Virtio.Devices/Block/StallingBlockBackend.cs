namespace Virtio.Devices.Block;

/// <summary>
/// The "stalled backend" fault on one request: forwards every request to the inner backend except the N-th submitted
/// one, which it keeps (a <see cref="HeldBlockBackend"/>) and never completes, as a backend whose I/O hung would. What
/// <c>virtio serve blk --fault stall-backend:N</c> serves a real guest.
/// </summary>
/// <remarks>Thread-safe. Dispose fails the held request (IOERR), so a reset or shutdown does not wait for it.</remarks>
public sealed class StallingBlockBackend : IBlockBackend
{
    private readonly IBlockBackend _inner;
    private readonly HeldBlockBackend _held;
    private readonly long _stallAt;
    private long _submitted;

    /// <summary>Wraps <paramref name="inner"/> (which it disposes) and stalls request number <paramref name="stallAt"/> (from 1).</summary>
    public StallingBlockBackend(IBlockBackend inner, long stallAt)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stallAt);
        _inner = inner;
        _stallAt = stallAt;
        _held = new HeldBlockBackend(inner, ownsInner: false);
    }

    /// <inheritdoc />
    public ulong Capacity => _inner.Capacity;

    /// <inheritdoc />
    public bool IsReadOnly => _inner.IsReadOnly;

    /// <inheritdoc />
    public BlockBackendCapabilities Capabilities => _inner.Capabilities;

    /// <summary>Requests submitted so far.</summary>
    public long Submitted => Interlocked.Read(ref _submitted);

    /// <summary>Requests held (0 or 1).</summary>
    public int Stalled => _held.HeldCount;

    /// <summary>Flushes the inner backend; held requests stay held.</summary>
    public BlockIoStatus Flush() => _inner.Flush();

    /// <inheritdoc />
    public void Submit(BlockIo request)
    {
        if (Interlocked.Increment(ref _submitted) == _stallAt)
        {
            _held.Submit(request);
        }
        else
        {
            _inner.Submit(request);
        }
    }

    /// <summary>Fails the stalled request, then disposes the inner backend.</summary>
    public void Dispose()
    {
        _held.Dispose();
        _inner.Dispose();
    }
}
