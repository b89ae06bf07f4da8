using Microsoft.Win32.SafeHandles;

namespace Virtio.Devices.Block;

/// <summary>
/// An <see cref="IBlockBackend"/> over a disk image file, with positional I/O (<c>pread</c>/<c>pwrite</c> through
/// <see cref="RandomAccess"/>) so concurrent requests need no shared file position. Flush reaches stable storage
/// (<c>fsync</c>); discard punches holes and write-zeroes uses <c>fallocate</c> where Linux and the file system allow.
/// </summary>
/// <remarks>
/// Every host failure (EIO, ENOSPC, a handle without the needed access, a disposed backend) completes the request with
/// <see cref="BlockIoStatus.IoError"/>; <see cref="Submit"/> never throws for one. In asynchronous mode, each request
/// runs on the thread pool and allocates one small work item.
/// </remarks>
public sealed class FileBlockBackend : IBlockBackend
{
    private const int SectorSize = 512;

    // Fallback write-zeroes writes from this, so zeroing a large range never allocates its size.
    private static readonly byte[] s_zeroes = new byte[64 * 1024];

    // The sector a write's segments split, gathered whole before it is written (see Write).
    [ThreadStatic]
    private static byte[]? t_straddle;

    private readonly BlockImageFile _file;
    private readonly ulong _capacity;
    private readonly bool _readOnly;
    private readonly bool _asynchronous;
    private int _disposed;

    /// <summary>Opens (or creates) the image file the options name.</summary>
    /// <param name="options">The file and the mode.</param>
    /// <exception cref="ArgumentException">The options contradict each other or the creation size is invalid.</exception>
    /// <exception cref="IOException">The file cannot be opened or created.</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be opened with the needed access.</exception>
    public FileBlockBackend(FileBlockBackendOptions options)
        : this(Open(options), options.ReadOnly, options.Asynchronous)
    {
    }

    // Lets tests hand in a handle whose access does not match readOnly, to provoke host I/O errors. Takes ownership.
    internal FileBlockBackend(SafeFileHandle file, bool readOnly, bool asynchronous)
        : this(new BlockImageFile(file), readOnly, asynchronous)
    {
    }

    // Lets tests put a layer between the backend and the file (the power-loss recorder). Takes ownership.
    internal FileBlockBackend(BlockImageFile file, bool readOnly, bool asynchronous)
    {
        _file = file;
        _readOnly = readOnly;
        _asynchronous = asynchronous;
        try
        {
            _capacity = (ulong)file.GetLength() & ~(ulong)(SectorSize - 1);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    // Off: discard does nothing and write-zeroes writes zeroes, as on a system without fallocate; tests use it to reach
    // the fallback on Linux.
    internal bool UseFallocate { get; set; } = LinuxFileSpace.IsAvailable;

    /// <summary>The file's length when it was opened, rounded down to a multiple of 512.</summary>
    public ulong Capacity => _capacity;

    /// <inheritdoc />
    public bool IsReadOnly => _readOnly;

    /// <summary>All three: where the file system cannot punch or zero ranges, discard does nothing and write-zeroes writes zeroes.</summary>
    public BlockBackendCapabilities Capabilities =>
        BlockBackendCapabilities.Flush | BlockBackendCapabilities.Discard | BlockBackendCapabilities.WriteZeroes;

    /// <inheritdoc />
    public void Submit(BlockIo request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_asynchronous)
        {
            // Not flowing the submitter's ExecutionContext: a request carries no ambient state the backend needs.
            ThreadPool.UnsafeQueueUserWorkItem(static state => state.Backend.Run(state.Request), (Backend: this, Request: request), preferLocal: false);
        }
        else
        {
            request.Complete(Execute(request));
        }
    }

    /// <summary><c>fsync</c>s the file; <see cref="BlockIoStatus.IoError"/> when it fails or the backend is disposed.</summary>
    public BlockIoStatus Flush()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return BlockIoStatus.IoError;
        }

        try
        {
            return FlushToDisk();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            return BlockIoStatus.IoError;
        }
    }

    /// <summary>Closes the file; requests still running or submitted later complete with <see cref="BlockIoStatus.IoError"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _file.Dispose();
        }
    }

    private static SafeFileHandle Open(FileBlockBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Path, nameof(options));
        if (options.CreateSize is not ulong size)
        {
            FileAccess access = options.ReadOnly ? FileAccess.Read : FileAccess.ReadWrite;
            return File.OpenHandle(options.Path, FileMode.Open, access, FileShare.Read);
        }

        if (options.ReadOnly)
        {
            throw new ArgumentException("a read-only backend cannot create its file", nameof(options));
        }

        if (size % SectorSize != 0 || size > long.MaxValue)
        {
            throw new ArgumentException($"the creation size {size} must be a multiple of {SectorSize}", nameof(options));
        }

        SafeFileHandle file = File.OpenHandle(options.Path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            if (RandomAccess.GetLength(file) < (long)size)
            {
                RandomAccess.SetLength(file, (long)size);
            }

            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>One request on a thread-pool thread: nothing it throws may reach the pool (that ends the process).</summary>
    private void Run(BlockIo request)
    {
        BlockIoStatus status = Execute(request);
        try
        {
            request.Complete(status);
        }
        catch (Exception)
        {
            // Only a foreign BlockIo's completion can throw here (the virtio-blk device's breaks the device instead);
            // the request has been handed back and there is no caller left to tell.
        }
    }

    private BlockIoStatus Execute(BlockIo request)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return BlockIoStatus.IoError;
        }

        try
        {
            return request.Kind switch
            {
                BlockIoKind.Read => request.DataFits(_capacity) ? Read(request) : BlockIoStatus.IoError,
                BlockIoKind.Write => !_readOnly && request.DataFits(_capacity) ? Write(request) : BlockIoStatus.IoError,
                BlockIoKind.Flush => FlushToDisk(),
                BlockIoKind.Discard => !_readOnly && request.RangesFit(_capacity) ? Discard(request) : BlockIoStatus.IoError,
                BlockIoKind.WriteZeroes => !_readOnly && request.RangesFit(_capacity) ? WriteZeroes(request) : BlockIoStatus.IoError,
                _ => BlockIoStatus.Unsupported,
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException or NotSupportedException)
        {
            // IOException covers EIO and ENOSPC; ObjectDisposedException is a request racing with Dispose.
            return BlockIoStatus.IoError;
        }
        catch (Exception)
        {
            // Anything else the runtime throws for this request (a position past long.MaxValue, a handle in the wrong
            // state) fails the request too: on the asynchronous path it would otherwise end the process.
            return BlockIoStatus.IoError;
        }
    }

    private BlockIoStatus Read(BlockIo request)
    {
        long position = (long)request.Offset;
        for (int i = 0; i < request.SegmentCount; i++)
        {
            Span<byte> destination = request.GetSegment(i);
            while (!destination.IsEmpty)
            {
                int read = _file.Read(destination, position);
                if (read == 0)
                {
                    // The file shrank under us: past its end the disk reads as zeroes, as a sparse tail would.
                    position += destination.Length;
                    destination.Clear();
                    break;
                }

                // pread may return less than asked (signals, some file systems); carry on from there.
                destination = destination[read..];
                position += read;
            }
        }

        return BlockIoStatus.Ok;
    }

    private BlockIoStatus Write(BlockIo request)
    {
        // Every pwrite covers whole sectors, so no sector is split between two of them: segments may end mid-sector,
        // and a power loss between two pwrites (page writeback in between) would leave such a sector half old, half new.
        // QEMU gets the same from one pwritev; a sector that straddles segments is gathered in a per-thread buffer.
        byte[] straddle = t_straddle ??= new byte[SectorSize];
        long position = (long)request.Offset;
        int pending = 0;
        for (int i = 0; i < request.SegmentCount; i++)
        {
            ReadOnlySpan<byte> source = request.GetSegment(i);
            if (pending != 0)
            {
                int take = Math.Min(SectorSize - pending, source.Length);
                source[..take].CopyTo(straddle.AsSpan(pending));
                pending += take;
                source = source[take..];
                if (pending < SectorSize)
                {
                    continue;
                }

                _file.Write(straddle, position);
                position += SectorSize;
                pending = 0;
            }

            // RandomAccess.Write loops on short writes itself.
            int whole = source.Length & ~(SectorSize - 1);
            if (whole != 0)
            {
                _file.Write(source[..whole], position);
                position += whole;
            }

            source[whole..].CopyTo(straddle);
            pending = source.Length - whole;
        }

        if (pending != 0)
        {
            // Only a length that is not whole sectors ends here; the device refuses those, this keeps the bytes anyway.
            _file.Write(straddle.AsSpan(0, pending), position);
        }

        return BlockIoStatus.Ok;
    }

    private BlockIoStatus FlushToDisk()
    {
        // A read-only handle has no dirty data of ours to make durable.
        if (!_readOnly)
        {
            _file.FlushToDisk();
        }

        return BlockIoStatus.Ok;
    }

    private BlockIoStatus Discard(BlockIo request)
    {
        if (!UseFallocate)
        {
            // Discard only permits dropping data; keeping it is a correct answer.
            return BlockIoStatus.Ok;
        }

        for (int i = 0; i < request.RangeCount; i++)
        {
            BlockRange range = request.GetRange(i);
            if (range.Length == 0)
            {
                continue;
            }

            int errno = _file.Allocate(LinuxFileSpace.PunchHole | LinuxFileSpace.KeepSize, (long)range.Offset, (long)range.Length);
            if (errno != 0 && !LinuxFileSpace.IsUnsupported(errno))
            {
                return BlockIoStatus.IoError;
            }
        }

        return BlockIoStatus.Ok;
    }

    private BlockIoStatus WriteZeroes(BlockIo request)
    {
        for (int i = 0; i < request.RangeCount; i++)
        {
            BlockRange range = request.GetRange(i);
            if (range.Length == 0)
            {
                continue;
            }

            if (UseFallocate)
            {
                int errno = ZeroInPlace(range);
                if (errno == 0)
                {
                    continue;
                }

                if (!LinuxFileSpace.IsUnsupported(errno))
                {
                    return BlockIoStatus.IoError;
                }
            }

            WriteZeroesByWriting(range);
        }

        return BlockIoStatus.Ok;
    }

    // 0 when fallocate zeroed the range, else the errno of the last attempt. A punched hole reads as zeroes, so with
    // Unmap it is tried first; mirrors QEMU's raw-posix handle_aiocb_write_zeroes_unmap falling back to ZERO_RANGE.
    private int ZeroInPlace(BlockRange range)
    {
        if (range.Unmap)
        {
            int errno = _file.Allocate(LinuxFileSpace.PunchHole | LinuxFileSpace.KeepSize, (long)range.Offset, (long)range.Length);
            if (!LinuxFileSpace.IsUnsupported(errno))
            {
                return errno;
            }
        }

        return _file.Allocate(LinuxFileSpace.ZeroRange | LinuxFileSpace.KeepSize, (long)range.Offset, (long)range.Length);
    }

    private void WriteZeroesByWriting(BlockRange range)
    {
        long position = (long)range.Offset;
        ulong remaining = range.Length;
        while (remaining != 0)
        {
            int count = (int)Math.Min(remaining, (ulong)s_zeroes.Length);
            _file.Write(s_zeroes.AsSpan(0, count), position);
            position += count;
            remaining -= (ulong)count;
        }
    }
}
