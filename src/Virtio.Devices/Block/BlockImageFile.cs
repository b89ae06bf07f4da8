using Microsoft.Win32.SafeHandles;

namespace Virtio.Devices.Block;

/// <summary>
/// The file operations a <see cref="FileBlockBackend"/> performs: positional reads and writes, fsync and fallocate.
/// A seam so the power-loss tests can slide a recording layer (in the spirit of Linux's dm-log-writes) between the
/// backend and storage and see every write, hole and fsync reaching it in order.
/// </summary>
internal class BlockImageFile : IDisposable
{
    private readonly SafeFileHandle? _handle;

    /// <summary>Takes ownership of <paramref name="handle"/>.</summary>
    public BlockImageFile(SafeFileHandle handle) => _handle = handle;

    /// <summary>For layers that keep no file of their own.</summary>
    protected BlockImageFile()
    {
    }

    private SafeFileHandle Handle => _handle ?? throw new InvalidOperationException("this layer overrides every operation");

    public virtual long GetLength() => RandomAccess.GetLength(Handle);

    /// <summary><c>pread</c>: bytes read, 0 at the end of the file.</summary>
    public virtual int Read(Span<byte> destination, long offset) => RandomAccess.Read(Handle, destination, offset);

    /// <summary><c>pwrite</c> of every byte (short writes are retried).</summary>
    public virtual void Write(ReadOnlySpan<byte> source, long offset) => RandomAccess.Write(Handle, source, offset);

    /// <summary><c>fsync</c>.</summary>
    public virtual void FlushToDisk() => RandomAccess.FlushToDisk(Handle);

    /// <summary><c>fallocate</c> with <see cref="LinuxFileSpace"/>'s modes: 0 or the errno.</summary>
    public virtual int Allocate(int mode, long offset, long length) => LinuxFileSpace.Allocate(Handle, mode, offset, length);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _handle?.Dispose();
        }
    }
}
